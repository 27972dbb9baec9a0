"""Transactions of the job stores."""

from __future__ import annotations

__all__ = ["Writer", "insert_ignore"]

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from authward.store.engine import begin_write


class Writer:
    """Opens the job stores' write transactions (``begin_write``: on SQLite the database's write
    lock is taken at BEGIN).

    SQLite: also one writer at a time in this process (an asyncio lock). Without it, concurrent
    runs' connections contend for SQLite's file lock, and a loser waits in SQLite's busy handler,
    which sleeps in steps of milliseconds: the queue would drain at a fraction of the speed.
    Across processes the busy handler still arbitrates. PostgreSQL: an ordinary transaction; row
    locks and unique keys keep workers apart, and runs do not queue behind the store-wide advisory
    lock that schema and config changes take.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        if self._sqlite:
            async with self._lock, begin_write(self.engine) as conn:
                yield conn
        else:
            async with begin_write(self.engine) as conn:
                yield conn


@functools.cache
def _insert_ignore(table: Table, postgresql: bool) -> Executable:
    return (pg_insert if postgresql else sqlite_insert)(table).on_conflict_do_nothing()


async def insert_ignore(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """Insert unless the primary key exists; True when this call inserted the row."""
    # One statement per table, values as parameters: building it with .values() per row costs
    # more than the webhook ingest's whole transaction does in Python otherwise.
    statement = _insert_ignore(table, conn.dialect.name == "postgresql")
    result = await conn.execute(statement, values)
    return bool(result.rowcount)
