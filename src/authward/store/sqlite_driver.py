"""SQLite through SQLAlchemy's own aiosqlite dialect and aiosqlite's public API (decision 043).

aiosqlite runs each connection's ``sqlite3`` calls on a thread of its own, and every call is a
hand-off: the event loop queues it, the thread wakes, runs it and wakes the loop again. On a
loaded core a hand-off costs more CPU than a short statement (decisions 031, 032). Nothing here
reaches into SQLAlchemy's or aiosqlite's internals; the hand-offs are trimmed where their public
APIs allow:

- **Transactions** (:func:`listen`): ``BEGIN`` is sent right before a transaction's first
  statement, as SQLAlchemy's ``before_cursor_execute`` event, so nothing is locked until then
  and a transaction that runs no statement sends none. A connection goes back to the pool with a
  ``ROLLBACK`` only when SQLite has a transaction open (aiosqlite's ``in_transaction`` reads a
  flag: no hand-off), through the pool's documented ``reset`` event.
- **Hot-path statements** (the runners below, for :mod:`authward.store.direct`): a read, or a
  single write with its ``RETURNING`` rows, is one ``execute_fetchall``: one hand-off. A
  transaction of inserts is one hand-off per batch (``executemany``) between ``BEGIN
  IMMEDIATE`` and ``COMMIT``; a single row of a single statement is a transaction of its own
  (SQLite runs every statement outside ``BEGIN`` as one), one hand-off.
"""

from __future__ import annotations

__all__ = ["fetch_all", "fetch_first", "listen", "run_transaction", "write_returning"]

import sqlite3
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, cast

import aiosqlite
from sqlalchemy import Connection, event
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

#: A statement and one tuple of parameters per row.
Step = tuple[str, Sequence[Sequence[Any]]]

#: ``Connection.info`` key: the ``BEGIN`` a transaction asked for and has not sent yet.
_PENDING_BEGIN = "authward_pending_begin"


def listen(engine: AsyncEngine, begin: Any) -> None:
    """Put the transaction hooks on ``engine`` (created with ``pool_reset_on_return=None``).
    ``begin(conn)`` names the ``BEGIN`` a SQLAlchemy transaction of ``conn`` needs."""

    def on_begin(conn: Connection) -> None:
        conn.info[_PENDING_BEGIN] = begin(conn)

    event.listen(engine.sync_engine, "begin", on_begin)
    event.listen(engine.sync_engine, "before_cursor_execute", _send_begin)
    event.listen(engine.sync_engine, "commit", _forget_begin)
    event.listen(engine.sync_engine, "rollback", _forget_begin)
    event.listen(engine.sync_engine, "reset", _reset)


def _send_begin(conn: Connection, *_: Any) -> None:
    sql = conn.info.pop(_PENDING_BEGIN, None)
    if sql is not None:
        adapted = cast(AdaptedConnection, conn.connection.dbapi_connection)
        try:
            adapted.run_async(lambda driver: driver.execute(sql))
        except sqlite3.Error as exc:
            # A "database is locked" is SQLAlchemy's OperationalError, whether or not this
            # SQLAlchemy release wraps what its events raise.
            raise _error(sql, exc) from None


def _forget_begin(conn: Connection) -> None:
    # An invalidated connection (its task was cancelled mid-statement) raises on any look at its
    # info, which would replace the cancellation being handled; its next transaction's BEGIN
    # event sets the entry afresh.
    if not conn.invalidated:
        conn.info.pop(_PENDING_BEGIN, None)


def _reset(dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState) -> None:
    record.info.pop(_PENDING_BEGIN, None)
    if not state.asyncio_safe:
        return  # garbage collection: the connection is closed, not reused
    driver: aiosqlite.Connection = dbapi_connection.driver_connection
    try:
        open_ = driver.in_transaction
    except ValueError:  # aiosqlite's "no active connection": nothing to roll back
        return
    if open_:
        dbapi_connection.rollback()


def _one_statement(steps: Sequence[Step]) -> tuple[str, Sequence[Any]] | None:
    if len(steps) == 1 and len(steps[0][1]) == 1:
        return steps[0][0], steps[0][1][0]
    return None


def _error(sql: str, exc: sqlite3.Error) -> StatementError:
    """The error as SQLAlchemy raises it (``IntegrityError``, ``OperationalError``), naming the
    statement and none of its parameters."""
    return DBAPIError.instance(sql, None, exc, sqlite3.Error)


async def _roll_back(driver: aiosqlite.Connection) -> None:
    # Queued behind the failed call, even when this task was cancelled mid-way: the write lock
    # is given up now, not when the pool resets the connection.
    with suppress(sqlite3.Error, ValueError):
        await driver.rollback()


async def run_transaction(driver: aiosqlite.Connection, begin: str, steps: Sequence[Step]) -> None:
    """``begin``, each step's statement once per row of parameters, ``COMMIT``: all or nothing.
    On an error the transaction is rolled back."""
    _outside_transactions(driver)
    single = _one_statement(steps)
    if single is not None:
        try:
            await driver.execute_fetchall(*single)
        except sqlite3.Error as exc:
            raise _error(single[0], exc) from None
        return
    sql = begin
    try:
        await driver.execute_fetchall(begin)
        for sql, rows in steps:
            await driver.executemany(sql, rows)
        sql = "COMMIT"
        await driver.commit()
    except sqlite3.Error as exc:
        await _roll_back(driver)
        raise _error(sql, exc) from None
    except BaseException:
        await _roll_back(driver)
        raise


async def write_returning(
    driver: aiosqlite.Connection,
    sql: str,
    parameters: Sequence[Any],
    then: tuple[str, Sequence[Any]] | None = None,
) -> tuple[list[Any], Any]:
    """The rows one writing statement returns, run as a transaction of its own, and the first
    row of ``then`` (or ``None``) read right after: one hand-off each."""
    _outside_transactions(driver)
    try:
        rows = list(await driver.execute_fetchall(sql, parameters))
    except sqlite3.Error as exc:
        raise _error(sql, exc) from None
    if then is None:
        return rows, None
    return rows, await fetch_first(driver, *then)


async def fetch_first(
    driver: aiosqlite.Connection, sql: str, parameters: Sequence[Any]
) -> tuple[Any, ...] | None:
    """The first row of one statement (it should select one) run outside any transaction, in
    one hand-off."""
    _outside_transactions(driver)
    try:
        rows = await driver.execute_fetchall(sql, parameters)
    except sqlite3.Error as exc:
        raise _error(sql, exc) from None
    for row in rows:
        return tuple(row)
    return None


async def fetch_all(
    driver: aiosqlite.Connection, steps: Sequence[tuple[str, Sequence[Any]]]
) -> list[list[Any]]:
    """Every row of each statement, read from one snapshot: one statement alone, several in a
    ``BEGIN`` ... ``COMMIT`` (a hand-off for each, and each statement)."""
    _outside_transactions(driver)
    if len(steps) == 1:
        try:
            return [list(await driver.execute_fetchall(*steps[0]))]
        except sqlite3.Error as exc:
            raise _error(steps[0][0], exc) from None
    sql = "BEGIN"
    try:
        await driver.execute_fetchall(sql)
        results = []
        for sql, parameters in steps:
            results.append(list(await driver.execute_fetchall(sql, parameters)))
        sql = "COMMIT"
        await driver.commit()
    except sqlite3.Error as exc:
        await _roll_back(driver)
        raise _error(sql, exc) from None
    except BaseException:
        await _roll_back(driver)
        raise
    return results


def _outside_transactions(driver: aiosqlite.Connection) -> None:
    if driver.in_transaction:
        raise RuntimeError("store.direct runs outside transactions")
