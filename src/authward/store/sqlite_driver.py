"""SQLAlchemy's aiosqlite adapter with one hand-off to aiosqlite's thread per statement.

SQLAlchemy's adapter opens a cursor, executes, fetches and closes the cursor as four separate
hand-offs to the connection's thread. On a loaded core each hand-off costs more CPU than the
statement itself (decision 031). Here the cursor is made and closed on the calling thread,
which is no SQLite call (sqlite3 cursors are plain objects until they execute; closing one
resets a finished statement), and execute and fetch go to the connection's thread together.
"""

from __future__ import annotations

__all__ = ["aiosqlite_module"]

import collections
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _make_new_cursor(self, connection: Any) -> Any:
        # aiosqlite.Connection._conn: the sqlite3 connection, as SQLAlchemy's own adapter
        # reaches it to set the isolation level.
        return connection._conn.cursor()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    @property
    def _sqlite(self) -> sqlite3.Cursor:
        return cast(sqlite3.Cursor, self._cursor)

    async def _on_thread(self, call: Callable[[], Any]) -> Any:
        async with self._adapt_connection._execute_mutex:
            return await self._connection._execute(call)

    async def _execute_async(
        self, operation: Any, parameters: Sequence[Any] | Mapping[str, Any] | None
    ) -> Any:
        cursor = self._sqlite

        def run() -> list[Any] | None:
            if parameters is None:
                cursor.execute(operation)
            else:
                cursor.execute(operation, parameters)
            return cursor.fetchall() if cursor.description else None

        rows = await self._on_thread(run)
        if rows is not None:
            self._rows = collections.deque(rows)
        return cursor

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        cursor = self._sqlite
        return await self._on_thread(lambda: cursor.executemany(operation, seq_of_parameters))

    async def _async_soft_close(self) -> None:
        self._soft_closed_memoized = self._soft_closed_memoized.union(
            {"description": self._cursor.description}
        )
        self._sqlite.close()

    def close(self) -> None:
        self._rows.clear()
        if not self._soft_closed_memoized:
            self._sqlite.close()


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _Cursor


class _Module(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        return _Connection(self, super().connect(*arg, **kw)._connection)


def aiosqlite_module() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to give ``create_async_engine(module=...)`` for ``sqlite+aiosqlite``."""
    return _Module(aiosqlite, sqlite3)
