"""Paging of every list of the management API: ``limit`` and an opaque ``cursor`` (decision 052).

A page is ``{"items": [...], "next_cursor": ...}``; ``next_cursor`` is null on the last page,
and otherwise goes back as ``cursor`` for the next one. A cursor is the sort key of the last item
it follows (keyset paging), so a page never repeats or skips an item when others are added or
removed meanwhile. It names its list: a cursor of another list, or anything else that is not a
cursor this server wrote, is 400 ``invalid_request``.
"""

# No ``from __future__ import annotations``: FastAPI reads the aliases at import.

__all__ = [
    "Cursor",
    "Key",
    "Limit",
    "Page",
    "after",
    "after_timed",
    "next_cursor",
    "page_of",
    "read_page",
    "time_key",
]

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from authward.server.management_errors import BadRequest

T = TypeVar("T")
Id = TypeVar("Id")
Out = TypeVar("Out")
Key = tuple[str | int, ...]

MAX_LIMIT = 200
_NOT_A_CURSOR = "cursor: not a cursor of this list (give the next_cursor of a page)"
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page (1 to {MAX_LIMIT})")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=1024,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="the next_cursor of the page before; none for the first page",
    ),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="give it as cursor for the next page; null on the last page"
    )


def time_key(at: datetime) -> str:
    """A time as part of a sort key: one width, so the strings sort as the times do."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def after_timed(
    kind: str, cursor: str | None, parse_id: Callable[[str], Id]
) -> tuple[datetime, Id] | None:
    """:func:`after` for a list sorted by a time (:func:`time_key`) and an id, the key as the
    store compares it; ``parse_id`` reads the id (raising ValueError for one that is not)."""
    key = after(kind, cursor, [str, str])
    if key is None:
        return None
    try:
        at = datetime.fromisoformat(str(key[0]))
        if at.tzinfo is None:
            raise ValueError("a time without its zone")
        return at, parse_id(str(key[1]))
    except ValueError:
        raise BadRequest(_NOT_A_CURSOR) from None


def _encode(kind: str, key: Key) -> str:
    text = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


def after(kind: str, cursor: str | None, types: Sequence[type]) -> Key | None:
    """The sort key ``cursor`` follows (None: the first page); ``types`` are its parts'.
    Refuses anything that is not a cursor of the ``kind`` list."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        decoded = None
    if (
        not isinstance(decoded, list)
        or len(decoded) != len(types) + 1
        or decoded[0] != kind
        or not all(type(v) is t for v, t in zip(decoded[1:], types, strict=True))
    ):
        raise BadRequest(_NOT_A_CURSOR)
    return tuple(decoded[1:])


def next_cursor(kind: str, rows: Sequence[T], limit: int, key: Callable[[T], Key]) -> str | None:
    """The cursor after ``rows[:limit]`` when ``rows`` holds more (the store reads one more row
    than a page, to know)."""
    return _encode(kind, key(rows[limit - 1])) if len(rows) > limit else None


def page_of(
    kind: str,
    items: Sequence[T],
    *,
    key: Callable[[T], Key],
    cursor: str | None,
    limit: int,
    types: Sequence[type],
    descending: bool = False,
) -> tuple[list[T], str | None]:
    """A page of a list read whole (one that stays small: an organization's members, one user's
    sessions, what the config declares), in order of ``key``."""
    start = after(kind, cursor, types)
    ordered = sorted(items, key=key, reverse=descending)
    if start is None:
        rest = ordered
    elif descending:
        rest = [i for i in ordered if key(i) < start]
    else:
        rest = [i for i in ordered if key(i) > start]
    return rest[:limit], next_cursor(kind, rest, limit, key)


def read_page(
    kind: str, found: Sequence[T], limit: int, key: Callable[[T], Key], out: Callable[[T], Out]
) -> Page[Out]:
    """The page of what the store read: ``limit + 1`` rows, the last only saying that there is
    a next page."""
    return Page(
        items=[out(row) for row in found[:limit]], next_cursor=next_cursor(kind, found, limit, key)
    )
