"""Open the database: URL normalisation, SQLite pragmas, and one-line connection errors."""

from __future__ import annotations

__all__ = [
    "begin_write",
    "check_connection",
    "create_engine",
    "display_url",
    "first_row",
    "insert_all",
    "normalise_url",
    "reading",
    "single_statement_reads",
    "write_transaction",
]

import asyncio
import sqlite3
from collections import namedtuple
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect, Insert, Select, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import Pool

from authward.errors import SettingsError, StoreError
from authward.store.sqlite_driver import SQLiteConnection, aiosqlite_module


def normalise_url(url: str) -> URL:
    """``postgresql://`` and ``sqlite:///`` mean the async drivers authward ships with."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(f"AUTHWARD_DATABASE_URL: {url!r} is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    raise SettingsError(
        f"AUTHWARD_DATABASE_URL: {backend!r} is not supported (use sqlite or postgresql)"
    )


def display_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


# Any constant works; it only has to be the same in every authward process.
_PG_LOCK_KEY = 0x61757468_77617264
_WRITE_LOCK = "authward_write_lock"
_NO_BEGIN = "authward_no_begin"
#: How long a SQLite writer waits for its turn before it fails.
_BUSY_TIMEOUT_SECONDS = 15


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # SQLAlchemy, not the driver, says when a transaction begins (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    # WAL lets readers run beside the writer; busy_timeout waits out a writer instead of failing.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_SECONDS * 1000}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get(_NO_BEGIN, False):
        return
    # A writer that first reads (migrations, config sync) takes the write lock up front, so two
    # processes starting together queue up instead of failing on a lock upgrade.
    sql = "BEGIN IMMEDIATE" if options.get(_WRITE_LOCK, False) else "BEGIN"
    # Not a statement of its own: it goes to aiosqlite's thread with the transaction's first
    # statement, one hand-off instead of two (sqlite_driver.py).
    cast(SQLiteConnection, conn.connection.dbapi_connection).begin_with_next_statement(sql)


def _pg_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    # A restarted or terminated server closes its connections, and asyncpg sees the close as it
    # happens: a pooled connection that is closed is replaced here, with no round trip.
    # (SQLAlchemy's pool_pre_ping would cost three per checkout: BEGIN, a ping, ROLLBACK.)
    if dbapi_conn.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("module", aiosqlite_module())
    # A database error's text leaves out the statement's parameters: they may be digests, codes
    # or personal data, and such a text can end up in a log.
    kwargs.setdefault("hide_parameters", True)
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine.sync_engine, "checkout", _pg_checkout)
    else:
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


async def check_connection(engine: AsyncEngine) -> None:
    """Fail with one line naming the database (never its password) when it cannot be used."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreError(f"cannot use database {display_url(engine.url)}: {reason}") from exc


@asynccontextmanager
async def reading(
    engine: AsyncEngine, conn: AsyncConnection | None
) -> AsyncIterator[AsyncConnection]:
    """``conn`` when the caller has one (several reads on one connection, one snapshot), else
    a connection of the engine's own."""
    if conn is not None:
        yield conn
        return
    async with engine.connect() as own:
        yield own


def single_statement_reads(engine: AsyncEngine) -> AsyncEngine:
    """The engine for hot paths that read with one statement, so need no transaction around it:
    on PostgreSQL that saves the BEGIN and ROLLBACK round trips, on SQLite the BEGIN (a single
    SELECT reads one consistent snapshot either way)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine.execution_options(**{_NO_BEGIN: True})


# SQLite lets one writer in at a time and makes the others poll with growing sleeps
# (busy_timeout), so under load an unlucky writer can wait seconds while newcomers go first.
# Writers of one process therefore queue here, in order, before they ask SQLite; only writers
# of other processes still meet the busy timeout.
_sqlite_writers: WeakKeyDictionary[Pool, asyncio.Lock] = WeakKeyDictionary()


@asynccontextmanager
async def _writer_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    if engine.dialect.name != "sqlite":
        yield
        return
    lock = _sqlite_writers.setdefault(engine.sync_engine.pool, asyncio.Lock())
    try:
        async with asyncio.timeout(_BUSY_TIMEOUT_SECONDS):
            await lock.acquire()
    except TimeoutError:
        raise StoreError(
            f"the database stayed busy: no turn to write within {_BUSY_TIMEOUT_SECONDS} s"
        ) from None
    try:
        yield
    finally:
        lock.release()


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that holds the store-wide write lock: one writer of schema, config and keys
    at a time across every process sharing the database."""
    async with _writer_turn(engine), engine.connect() as conn:
        conn = await conn.execution_options(**{_WRITE_LOCK: True})
        async with conn.begin():
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            yield conn


@asynccontextmanager
async def begin_write(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that writes rows (no store-wide lock). On SQLite it takes the database's
    write lock at BEGIN (IMMEDIATE), after the process's earlier writers (in order): concurrent
    writers then wait their turn instead of failing a read-to-write lock upgrade with "database
    is locked". On PostgreSQL it is a plain transaction."""
    async with _writer_turn(engine), engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = await conn.execution_options(**{_WRITE_LOCK: True})
        async with conn.begin():
            yield conn


#: Rows to insert: an INSERT of one table (no VALUES, no RETURNING) and one mapping per row, all
#: with the same keys.
Rows = tuple[Insert, Sequence[Mapping[str, Any]]]
_Compiled = tuple[str, tuple[str, ...], dict[str, Any]]
_compiled: dict[tuple[Dialect, Insert, tuple[str, ...]], _Compiled] = {}


def _compile(dialect: Dialect, statement: Insert, keys: tuple[str, ...]) -> _Compiled:
    """The SQL, its parameters' order and their type conversions (UTC datetimes, JSON), as
    SQLAlchemy's execution would make them; compiled once per statement and set of columns."""
    found = _compiled.get((dialect, statement, keys))
    if found is None:
        table = statement.table
        for column in table.c:
            if column.key not in keys and (column.default is not None or column.onupdate):
                raise ValueError(f"insert_all: {table}.{column.key} has a client-side default")
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup or ())
        if set(order) != set(keys):
            raise ValueError(f"insert_all: {statement} does not bind exactly {keys}")
        found = (compiled.string, order, dict(compiled._bind_processors))
        if len(_compiled) >= 256:  # statements are module-level constants: never reached
            _compiled.clear()
        _compiled[(dialect, statement, keys)] = found
    return found


async def insert_all(engine: AsyncEngine, batches: Sequence[Rows]) -> None:
    """Insert every batch's rows in one transaction, after the process's earlier writers (as
    :func:`begin_write`). On SQLite the whole transaction is one hand-off to aiosqlite's
    thread, where SQLAlchemy's statements would cost one each plus ``COMMIT`` (decision 032);
    an error is raised as SQLAlchemy raises it (``IntegrityError``, ``OperationalError``), and
    nothing is written. On PostgreSQL it is :func:`begin_write` with one ``executemany`` per
    batch."""
    batches = [(statement, rows) for statement, rows in batches if rows]
    if not batches:
        return
    if engine.dialect.name != "sqlite":
        async with begin_write(engine) as conn:
            for statement, rows in batches:
                await conn.execute(statement, rows)
        return
    steps = []
    for statement, rows in batches:
        keys = tuple(rows[0])
        sql, order, convert = _compile(engine.dialect, statement, keys)
        if any(tuple(row) != keys for row in rows):
            raise ValueError("insert_all: every row of a batch must have the same keys")
        plain = {name: convert.get(name) for name in order}
        steps.append(
            (
                sql,
                [
                    tuple(row[n] if f is None else f(row[n]) for n, f in plain.items())
                    for row in rows
                ],
            )
        )
    async with _writer_turn(engine), engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = cast(SQLiteConnection, raw.dbapi_connection)
        try:
            await driver.run_transaction("BEGIN IMMEDIATE", steps)
        except sqlite3.Error as exc:
            failed = (getattr(exc, "__notes__", None) or [""])[-1]
            # No parameters in the error: they may be digests or personal data.
            raise DBAPIError.instance(failed, None, exc, sqlite3.Error) from None


_Read = tuple[str, tuple[str, ...], dict[str, Any], type, tuple[Any, ...]]
_reads: dict[tuple[Dialect, Select[Any]], _Read] = {}


def _compile_read(dialect: Dialect, statement: Select[Any]) -> _Read:
    found = _reads.get((dialect, statement))
    if found is None:
        compiled = statement.compile(dialect=dialect)
        columns = list(statement.selected_columns)
        names = [str(c.key) for c in columns]
        if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
            raise ValueError(f"first_row: the columns of {statement} need distinct names")
        processors = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        )
        found = (
            compiled.string,
            tuple(compiled.positiontup or ()),
            dict(compiled._bind_processors),
            namedtuple("Row", names),
            processors,
        )
        if len(_reads) >= 256:
            _reads.clear()
        _reads[(dialect, statement)] = found
    return found


async def first_row(engine: AsyncEngine, statement: Select[Any], params: Mapping[str, Any]) -> Any:
    """The first row ``statement`` selects (attribute access by column name), or ``None``: one
    statement, outside any transaction (:func:`single_statement_reads`). On SQLite it is one
    hand-off to aiosqlite's thread, the SQL, parameters and result types as SQLAlchemy makes
    them, without its execution layer (decision 032)."""
    if engine.dialect.name != "sqlite":
        async with single_statement_reads(engine).connect() as conn:
            return (await conn.execute(statement, params)).first()
    sql, order, convert, row_type, processors = _compile_read(engine.dialect, statement)
    bound = tuple(params[n] if (f := convert.get(n)) is None else f(params[n]) for n in order)
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = cast(SQLiteConnection, raw.dbapi_connection)
        try:
            values = await driver.fetch_first(sql, bound)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from None
    if values is None:
        return None
    return row_type(*(v if f is None else f(v) for f, v in zip(processors, values, strict=True)))
