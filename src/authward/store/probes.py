"""The database's answers to ``/readyz``: reachable, and at the schema this authward needs."""

from __future__ import annotations

__all__ = ["SchemaProbe"]

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.engine import display_url
from authward.store.migrate import head_revision

log = logging.getLogger("authward.store")


class SchemaProbe:
    """Each check opens a connection of its own; the head revision is read from disk once."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._head = head_revision()

    def _unreachable(self, exc: Exception) -> str:
        # Where the database is goes to the log only: /readyz answers anyone.
        log.warning(
            "readiness: cannot reach %s (%s)", display_url(self._engine.url), type(exc).__name__
        )
        return f"unreachable ({type(exc).__name__})"

    async def database(self) -> str | None:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            return self._unreachable(exc)
        return None

    async def migrations(self) -> str | None:
        """Pending migrations (or a schema newer than this authward) make the server unready."""
        try:
            # Read directly: Alembic's MigrationContext logs two info lines each time.
            async with self._engine.connect() as conn:
                revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        except Exception as exc:
            return self._unreachable(exc)
        if revision != self._head:
            return (
                f"schema at {revision or 'nothing'}, this authward needs {self._head}: "
                "run `authward migrate`"
            )
        return None
