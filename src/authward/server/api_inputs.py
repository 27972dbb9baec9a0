"""Text inputs of the management API that every store can hold.

PostgreSQL refuses a NUL character in text, so a path segment, query value or body field with one
failed in the store, as a 500. These types refuse it as malformed input instead (FastAPI's 422,
which the OpenAPI document declares), on SQLite and PostgreSQL alike, and say so in the schema.
"""

# No ``from __future__ import annotations``: FastAPI reads the aliases at import.

__all__ = ["NUL_FREE", "BodyText", "PathText", "QueryText"]

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

NUL_FREE = r"^[^\x00]*$"
#: A path segment has no control character at all. The server answers 400 for such a path, and
#: for a query with a NUL, before routing (authward.server.guards): these patterns say so in the
#: schema and hold for an app that mounts the management API without the guard.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"

PathText = Annotated[str, Path(pattern=_PRINTABLE)]
QueryText = Annotated[str | None, Query(pattern=NUL_FREE)]
BodyText = Annotated[str, Field(pattern=NUL_FREE)]
