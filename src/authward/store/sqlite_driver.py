"""SQLAlchemy's aiosqlite adapter with one hand-off to aiosqlite's thread per statement.

SQLAlchemy's adapter opens a cursor, executes, fetches and closes the cursor as four separate
hand-offs to the connection's thread. On a loaded core each hand-off costs more CPU than the
statement itself (decision 031). Here the cursor is made and closed on the calling thread,
which is no SQLite call (sqlite3 cursors are plain objects until they execute; closing one
resets a finished statement), and execute and fetch go to the connection's thread together.

Two more hand-offs per transaction are saved (decision 032): a transaction's ``BEGIN`` travels
with its first statement, and a rollback with no transaction open (the pool's reset of a
connection that committed, or that only read outside a transaction) is not sent at all.
"""

from __future__ import annotations

__all__ = ["SQLiteConnection", "aiosqlite_module"]

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
        connection = cast(SQLiteConnection, self._adapt_connection)
        async with connection._execute_mutex:
            begin, connection._begin = connection._begin, None
            if begin is None:
                return await self._connection._execute(call)

            def begin_then_call() -> Any:
                self._connection._conn.execute(begin)
                return call()

            return await self._connection._execute(begin_then_call)

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


class SQLiteConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_begin",)
    _cursor_cls = _Cursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        #: A ``BEGIN`` asked for and not yet sent: it goes with the next statement.
        self._begin: str | None = None

    def begin_with_next_statement(self, sql: str) -> None:
        """Start a transaction with ``sql`` (``BEGIN`` or ``BEGIN IMMEDIATE``), sent to SQLite
        in the same hand-off as the transaction's first statement. As with a deferred
        ``BEGIN``, nothing is locked before that statement; an error in ``sql`` (``database is
        locked``) is raised by it."""
        self._begin = sql

    def _open(self) -> bool:
        """Whether SQLite has a transaction open on this connection. ``in_transaction`` reads
        a flag of the connection (``sqlite3_get_autocommit``): no hand-off, and nothing runs
        on the connection's thread meanwhile, since every call on it goes through this
        adapter one at a time."""
        driver = self._connection._connection
        return driver is not None and bool(driver.in_transaction)

    async def run_transaction(
        self, begin: str, steps: Sequence[tuple[str, Sequence[Sequence[Any]]]]
    ) -> None:
        """``begin``, then each step's statement once per row of parameters, then ``COMMIT``: a
        whole transaction in one hand-off to the connection's thread. On an error SQLite's
        transaction is rolled back there too, and the ``sqlite3`` error is raised, with the
        statement it came from as ``__notes__``."""
        driver = self._connection

        def run() -> None:
            sqlite = driver._conn
            sql = begin
            try:
                sqlite.execute(begin)
                for sql, rows in steps:
                    sqlite.executemany(sql, rows)
                sql = "COMMIT"
                sqlite.execute(sql)
            except BaseException as exc:
                if sqlite.in_transaction:
                    sqlite.execute("ROLLBACK")
                exc.add_note(sql)
                raise

        async with self._execute_mutex:
            await driver._execute(run)

    async def write_returning(
        self,
        begin: str,
        sql: str,
        parameters: Sequence[Any],
        then: tuple[str, Sequence[Any]] | None = None,
    ) -> tuple[list[tuple[Any, ...]], tuple[Any, ...] | None]:
        """``begin``, one writing statement, its rows (``RETURNING``), the first row of the
        ``then`` query if any, ``COMMIT``: one hand-off. On an error the transaction is rolled
        back there and the error raised."""
        driver = self._connection

        def run() -> tuple[list[tuple[Any, ...]], tuple[Any, ...] | None]:
            sqlite = driver._conn
            read: tuple[Any, ...] | None = None
            try:
                sqlite.execute(begin)
                rows: list[tuple[Any, ...]] = sqlite.execute(sql, parameters).fetchall()
                if then is not None:
                    read = sqlite.execute(*then).fetchone()
                sqlite.execute("COMMIT")
            except BaseException:
                if sqlite.in_transaction:
                    sqlite.execute("ROLLBACK")
                raise
            return rows, read

        async with self._execute_mutex:
            if self._begin is not None or driver._conn.in_transaction:
                raise RuntimeError("write_returning runs outside transactions")
            return cast(
                tuple[list[tuple[Any, ...]], tuple[Any, ...] | None], await driver._execute(run)
            )

    async def fetch_first(self, sql: str, parameters: Sequence[Any]) -> tuple[Any, ...] | None:
        """The first row of one statement run outside any transaction, in one hand-off."""
        driver = self._connection

        def run() -> tuple[Any, ...] | None:
            cursor = driver._conn.execute(sql, parameters)
            try:
                row: tuple[Any, ...] | None = cursor.fetchone()
                return row
            finally:
                cursor.close()

        async with self._execute_mutex:
            if self._begin is not None or driver._conn.in_transaction:
                raise RuntimeError("fetch_first runs outside transactions")
            return cast(tuple[Any, ...] | None, await driver._execute(run))

    async def fetch_all(
        self, steps: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[tuple[Any, ...]]]:
        """Every row of each statement, read in one transaction (one snapshot) and one
        hand-off."""
        driver = self._connection

        def run() -> list[list[tuple[Any, ...]]]:
            sqlite = driver._conn
            sqlite.execute("BEGIN")
            try:
                rows = [sqlite.execute(sql, parameters).fetchall() for sql, parameters in steps]
            except BaseException:
                if sqlite.in_transaction:
                    sqlite.execute("ROLLBACK")
                raise
            sqlite.execute("COMMIT")
            return rows

        async with self._execute_mutex:
            if self._begin is not None or driver._conn.in_transaction:
                raise RuntimeError("fetch_all runs outside transactions")
            return cast(list[list[tuple[Any, ...]]], await driver._execute(run))

    def commit(self) -> None:
        if self._begin is not None:  # the transaction never ran a statement
            self._begin = None
            return
        if self._open():
            super().commit()

    def rollback(self) -> None:
        self._begin = None
        if self._open():
            super().rollback()


class _Module(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> SQLiteConnection:
        return SQLiteConnection(self, super().connect(*arg, **kw)._connection)


def aiosqlite_module() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to give ``create_async_engine(module=...)`` for ``sqlite+aiosqlite``."""
    return _Module(aiosqlite, sqlite3)
