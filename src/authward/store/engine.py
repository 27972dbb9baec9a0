"""Open the database: URL normalisation, SQLite pragmas, and one-line connection errors."""

from __future__ import annotations

__all__ = [
    "Engine",
    "begin_write",
    "check_connection",
    "create_engine",
    "display_url",
    "jobs_engine_kwargs",
    "jobs_system_url",
    "normalise_url",
    "opened_or_disposed",
    "opening",
    "prepare_jobs_database",
    "reading",
    "unusable",
    "write_transaction",
    "writer_turn",
]

import asyncio
import contextlib
import importlib.util
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, event, make_url, text
from sqlalchemy.engine import URL, AdaptedConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import Pool

from authward.errors import MissingExtra, SettingsError, StoreError
from authward.store import sqlite_driver

#: The database handle the composition root opens and hands to every store.
Engine = AsyncEngine


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
#: How long a SQLite writer waits for its turn before it fails.
_BUSY_TIMEOUT_SECONDS = 15


#: Once per connection, in one hand-off. WAL lets readers run beside the writer; busy_timeout
#: waits out a writer instead of failing.
_SQLITE_SETUP = (
    "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; "
    f"PRAGMA busy_timeout={_BUSY_TIMEOUT_SECONDS * 1000}; PRAGMA synchronous=NORMAL;"
)


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    adapted = cast(AdaptedConnection, dbapi_conn)
    adapted.run_async(lambda driver: driver.executescript(_SQLITE_SETUP))


def _sqlite_begin(conn: Connection) -> str:
    # A writer that first reads (migrations, config sync) takes the write lock up front, so two
    # processes starting together queue up instead of failing on a lock upgrade.
    return "BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_LOCK, False) else "BEGIN"


def _pg_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    # A restarted or terminated server closes its connections, and asyncpg sees the close as it
    # happens: a pooled connection that is closed is replaced here, with no round trip.
    # (SQLAlchemy's pool_pre_ping would cost three per checkout: BEGIN, a ping, ROLLBACK.)
    if dbapi_conn.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


def _create_private(url: URL) -> None:
    """Create a new SQLite file readable by its owner only, like the key file: SQLite would make
    it 0644 (less the umask), and it makes the -wal and -shm files with the database's mode."""
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:") or url.query.get("mode"):
        return
    # It exists already, or SQLite will say in one line why it cannot be created.
    with suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        # SQLAlchemy, not sqlite3, says when a transaction begins (sqlite_driver.listen).
        kwargs["connect_args"] = {"isolation_level": None, **kwargs.get("connect_args", {})}
        # The pool's rollback is sent only when a transaction is open (sqlite_driver._reset).
        kwargs.setdefault("pool_reset_on_return", None)
        _create_private(parsed)
    # A database error's text leaves out the statement's parameters: they may be digests, codes
    # or personal data, and such a text can end up in a log.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "postgresql" and importlib.util.find_spec("asyncpg") is None:
        raise MissingExtra("postgres", "a PostgreSQL database (AUTHWARD_DATABASE_URL)")
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine.sync_engine, "checkout", _pg_checkout)
    else:
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        sqlite_driver.listen(engine, _sqlite_begin)
    return engine


def unusable(engine: AsyncEngine, exc: BaseException) -> StoreError:
    """One line naming the database (never its password) and the driver's reason."""
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return StoreError(f"cannot use database {display_url(engine.url)}: {reason}")


async def check_connection(engine: AsyncEngine) -> None:
    """Fail with one line naming the database (never its password) when it cannot be used."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise unusable(engine, exc) from exc


@asynccontextmanager
async def opening(engine: AsyncEngine) -> AsyncIterator[None]:
    """While a command opens the store: a database error (a corrupt file, one locked by another
    process past the busy timeout) becomes :func:`unusable`'s one line, not a traceback."""
    try:
        yield
    except DBAPIError as exc:
        raise unusable(engine, exc) from exc


@asynccontextmanager
async def opened_or_disposed(engine: AsyncEngine) -> AsyncIterator[None]:
    """While the runtime opens on ``engine``: on any failure the engine is disposed, and a
    database error becomes :func:`unusable`'s one line."""
    try:
        yield
    except DBAPIError as exc:  # a corrupt file, one locked by another process, ...
        await engine.dispose()
        raise unusable(engine, exc) from exc
    except BaseException:
        await engine.dispose()
        raise


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


# SQLite lets one writer in at a time and makes the others poll with growing sleeps
# (busy_timeout), so under load an unlucky writer can wait seconds while newcomers go first.
# Writers of one process therefore queue here, in order, before they ask SQLite; only writers
# of other processes still meet the busy timeout.
_sqlite_writers: WeakKeyDictionary[Pool, asyncio.Lock] = WeakKeyDictionary()


@asynccontextmanager
async def writer_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """On SQLite, wait for the process's earlier writers (in order), then write."""
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
    async with writer_turn(engine), engine.connect() as conn:
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
    async with writer_turn(engine), engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = await conn.execution_options(**{_WRITE_LOCK: True})
        async with conn.begin():
            yield conn


def jobs_system_url(url: URL) -> str:
    """Where the job engine (DBOS, decision 046) keeps its state for a store at ``url``.
    SQLite: a second file beside it (``app.db`` -> ``app-jobs.db``), so the engine's writes never
    wait on the store's write lock. PostgreSQL: the same database (DBOS's ``dbos`` schema), with
    the synchronous driver DBOS uses."""
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:":
            raise StoreError("jobs need a database file; an in-memory SQLite database has none")
        stem = path[:-3] if path.endswith(".db") else path
        return URL.create("sqlite", database=f"{stem}-jobs.db").render_as_string()
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def jobs_engine_kwargs(system_url: str) -> dict[str, Any]:
    """What the job engine's SQLAlchemy engine is created with, on top of DBOS's defaults
    (``db_engine_kwargs``). SQLite: each connection commits with ``synchronous=NORMAL``, as
    authward's own file does (_SQLITE_SETUP): under WAL a commit then survives a killed process
    without waiting for the disk, and only a power loss can take the last commits back. DBOS's
    default (FULL) syncs the WAL at every checkpoint it writes, several per run (measured in
    docs/benchmarks.md). DBOS's own per-connection settings (IMMEDIATE, busy_timeout) still
    apply: they are set on what this returns."""
    url = make_url(system_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return {}
    path = os.path.abspath(url.database)

    def connect() -> sqlite3.Connection:
        # What SQLAlchemy's pysqlite dialect opens a file with (its pool hands a connection
        # to any thread), then the pragma.
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return {"creator": connect}


def prepare_jobs_database(system_url: str) -> None:
    """Put the job engine's SQLite file in WAL mode (it persists in the file): DBOS opens it in
    SQLite's default rollback journal, where every checkpoint commit writes twice and readers
    wait for writers. Measured in docs/benchmarks.md. PostgreSQL needs nothing."""
    url = make_url(system_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return
    with contextlib.closing(sqlite3.connect(url.database)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
