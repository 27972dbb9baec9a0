"""Hot-path statements: SQLAlchemy compiles them, the driver runs them (decision 032).

SQLAlchemy's execution layer (pool events, execution contexts, result objects, a greenlet switch
per statement) costs several times what a short statement costs the driver. The sign-in path
needs only two kinds of statement: inserts whose results nobody reads, and one-statement reads.
For those, the SQL, the parameters' order and the type conversions (UTC datetimes, JSON, UUIDs)
come from SQLAlchemy's compiler, once per statement, and the driver runs them:

- SQLite: one hand-off to aiosqlite's thread for a whole transaction of inserts, or for a read;
- PostgreSQL: asyncpg on the pooled connection (its own prepared-statement cache).

Errors are raised as SQLAlchemy raises them (``IntegrityError``, ``OperationalError``), without
the statement's parameters.
"""

from __future__ import annotations

__all__ = ["Query", "Rows", "all_rows", "first_row", "insert_all", "write_returning"]

import sqlite3
from collections import namedtuple
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import Delete, Dialect, Insert, Select, Update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import Compiled

from authward.store.engine import writer_turn
from authward.store.sqlite_driver import SQLiteConnection

#: Rows to insert: an INSERT of one table (no VALUES, no RETURNING) and one mapping per row, all
#: with the same keys; or an UPDATE or DELETE (no RETURNING) and the values of its parameters,
#: once per run.
Rows = tuple[Insert | Update | Delete, Sequence[Mapping[str, Any]]]
#: A SELECT and its parameters.
Query = tuple[Select[Any], Mapping[str, Any]]


#: A parameter the caller must give (the statement holds no value for it).
_GIVEN: Any = object()


class _Plan(NamedTuple):
    sql: str
    #: (name, conversion or None, the statement's own value or _GIVEN) for each parameter, in
    #: the order they first appear
    binds: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]
    #: For a statement that uses a parameter in several places: the index in ``binds`` of each
    #: positional parameter, so each value is converted once. ``None``: each appears once.
    slots: tuple[int, ...] | None = None

    def bind(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, convert, own in self.binds:
            value = values[name] if own is _GIVEN or name in values else own
            out.append(value if convert is None else convert(value))
        if self.slots is None:
            return tuple(out)
        return tuple(out[i] for i in self.slots)


class _Read(NamedTuple):
    plan: _Plan
    row: Callable[..., Any]
    results: tuple[Callable[[Any], Any] | None, ...]


def _plan(compiled: Compiled) -> _Plan:
    if "POSTCOMPILE" in compiled.string:
        raise ValueError("store.direct runs no expanding (IN list) parameters")
    convert = compiled._bind_processors  # type: ignore[attr-defined]
    binds = compiled.binds  # type: ignore[attr-defined]
    order = compiled.positiontup or ()  # type: ignore[attr-defined]
    unique = list(dict.fromkeys(order))
    return _Plan(
        compiled.string,
        tuple(
            (n, convert.get(n), _GIVEN if binds[n].required else binds[n].effective_value)
            for n in unique
        ),
        None if len(unique) == len(order) else tuple(unique.index(n) for n in order),
    )


# Statements are module-level constants, so these stay small; the bound is a safety net.
_MAX_CACHED = 256
_inserts: dict[tuple[Dialect, Insert, tuple[str, ...]], _Plan] = {}
_reads: dict[tuple[Dialect, Select[Any]], _Read] = {}
_writes: dict[tuple[Dialect, Insert | Update | Delete], _Read] = {}


def _insert_plan(dialect: Dialect, statement: Insert, keys: tuple[str, ...]) -> _Plan:
    found = _inserts.get((dialect, statement, keys))
    if found is None:
        table = statement.table
        for column in table.c:
            if column.key not in keys and (column.default is not None or column.onupdate):
                raise ValueError(f"insert_all: {table}.{column.key} has a client-side default")
        compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
        found = _plan(compiled)
        if {n for n, _, _ in found.binds} != set(keys) or "RETURNING" in found.sql.upper():
            raise ValueError(f"insert_all: {statement} must bind exactly {keys}, return nothing")
        if len(_inserts) >= _MAX_CACHED:
            _inserts.clear()
        _inserts[(dialect, statement, keys)] = found
    return found


def _read_plan(dialect: Dialect, statement: Select[Any]) -> _Read:
    found = _reads.get((dialect, statement))
    if found is None:
        columns = list(statement.selected_columns)
        names = [str(c.key) for c in columns]
        if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
            raise ValueError(f"first_row: the columns of {statement} need distinct names")
        found = _Read(
            _plan(statement.compile(dialect=dialect)),
            namedtuple("Row", names),
            tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns),
        )
        if len(_reads) >= _MAX_CACHED:
            _reads.clear()
        _reads[(dialect, statement)] = found
    return found


def _write_plan(dialect: Dialect, statement: Insert | Update | Delete) -> _Read:
    """A statement with its parameters bound by name (and its RETURNING columns, if any)."""
    found = _writes.get((dialect, statement))
    if found is None:
        columns = list(statement.exported_columns)
        found = _Read(
            _plan(statement.compile(dialect=dialect)),
            namedtuple("Row", [str(c.key) for c in columns]),
            tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns),
        )
        if len(_writes) >= _MAX_CACHED:
            _writes.clear()
        _writes[(dialect, statement)] = found
    return found


async def insert_all(engine: AsyncEngine, batches: Sequence[Rows]) -> None:
    """Insert every batch's rows in one transaction, after the process's earlier writers (as
    :func:`authward.store.engine.begin_write`): all or nothing. On SQLite, ``BEGIN IMMEDIATE``,
    the inserts and ``COMMIT`` are one hand-off to aiosqlite's thread."""
    steps: list[tuple[str, list[tuple[Any, ...]]]] = []
    for statement, rows in batches:
        if not rows:
            continue
        if not isinstance(statement, Insert):
            write = _write_plan(engine.dialect, statement).plan
            if "RETURNING" in write.sql.upper():
                raise ValueError(f"insert_all: {statement} must return nothing")
            steps.append((write.sql, [write.bind(row) for row in rows]))
            continue
        keys = tuple(rows[0])
        if any(tuple(row) != keys for row in rows):
            raise ValueError("insert_all: every row of a batch must have the same keys")
        plan = _insert_plan(engine.dialect, statement, keys)
        steps.append((plan.sql, [plan.bind(row) for row in rows]))
    if not steps:
        return
    async with writer_turn(engine), engine.connect() as conn:
        raw = await conn.get_raw_connection()
        if engine.dialect.name == "sqlite":
            sqlite_conn = cast(SQLiteConnection, raw.dbapi_connection)
            try:
                await sqlite_conn.run_transaction("BEGIN IMMEDIATE", steps)
            except sqlite3.Error as exc:
                failed = (getattr(exc, "__notes__", None) or [""])[-1]
                raise DBAPIError.instance(failed, None, exc, sqlite3.Error) from None
            return

        async def transaction(driver: Any) -> None:
            async with driver.transaction():
                for sql, rows in steps:
                    await driver.executemany(sql, rows)

        await _on_asyncpg(engine, raw, steps[0][0], transaction)


async def write_returning(
    engine: AsyncEngine,
    statement: Insert | Update | Delete,
    params: Mapping[str, Any],
    *,
    then: Query | None = None,
) -> tuple[list[Any], Any]:
    """The rows one writing statement returns (named tuples, as :func:`first_row` gives), run
    in a transaction of its own after the process's earlier writers (SQLite: one hand-off,
    ``BEGIN IMMEDIATE`` to ``COMMIT``; PostgreSQL: one round trip, autocommit); and the first
    row of the ``then`` query (or ``None``), read right after on the same connection (SQLite:
    in the same hand-off and transaction)."""
    write = _write_plan(engine.dialect, statement)
    bound = write.plan.bind(params)
    read = _read_plan(engine.dialect, then[0]) if then is not None else None
    read_step = (read.plan.sql, read.plan.bind(then[1])) if read and then else None
    async with writer_turn(engine), engine.connect() as conn:
        raw = await conn.get_raw_connection()
        if engine.dialect.name == "sqlite":
            try:
                rows, found = await cast(SQLiteConnection, raw.dbapi_connection).write_returning(
                    "BEGIN IMMEDIATE", write.plan.sql, bound, read_step
                )
            except sqlite3.Error as exc:
                raise DBAPIError.instance(write.plan.sql, None, exc, sqlite3.Error) from None
        else:

            async def both(driver: Any) -> tuple[list[Any], Any]:
                written = await driver.fetch(write.plan.sql, *bound)
                if read_step is None:
                    return written, None
                return written, await driver.fetchrow(read_step[0], *read_step[1])

            rows, found = await _on_asyncpg(engine, raw, write.plan.sql, both)
    row = _row(read, found) if read is not None and found is not None else None
    return [_row(write, values) for values in rows], row


async def first_row(engine: AsyncEngine, statement: Select[Any], params: Mapping[str, Any]) -> Any:
    """The first row ``statement`` selects (a named tuple with the fields and values of
    SQLAlchemy's ``Row``), or ``None``: one statement, outside any transaction."""
    read = _read_plan(engine.dialect, statement)
    bound = read.plan.bind(params)
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        if engine.dialect.name == "sqlite":
            try:
                values = await cast(SQLiteConnection, raw.dbapi_connection).fetch_first(
                    read.plan.sql, bound
                )
            except sqlite3.Error as exc:
                raise DBAPIError.instance(read.plan.sql, None, exc, sqlite3.Error) from None
        else:
            values = await _on_asyncpg(
                engine, raw, read.plan.sql, lambda driver: driver.fetchrow(read.plan.sql, *bound)
            )
    return None if values is None else _row(read, values)


async def all_rows(engine: AsyncEngine, queries: Sequence[Query]) -> list[list[Any]]:
    """Every row of each query (named tuples, as :func:`first_row` gives), all read in one
    transaction, so from one snapshot: on SQLite in one hand-off, on PostgreSQL in one
    repeatable-read, read-only transaction."""
    reads = [_read_plan(engine.dialect, statement) for statement, _ in queries]
    steps = [
        (r.plan.sql, r.plan.bind(params)) for r, (_, params) in zip(reads, queries, strict=True)
    ]
    if not steps:
        return []
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        if engine.dialect.name == "sqlite":
            try:
                results = await cast(SQLiteConnection, raw.dbapi_connection).fetch_all(steps)
            except sqlite3.Error as exc:
                raise DBAPIError.instance(steps[0][0], None, exc, sqlite3.Error) from None
        else:

            async def snapshot(driver: Any) -> list[Any]:
                async with driver.transaction(isolation="repeatable_read", readonly=True):
                    return [await driver.fetch(sql, *bound) for sql, bound in steps]

            results = await _on_asyncpg(engine, raw, steps[0][0], snapshot)
    return [[_row(r, values) for values in rows] for r, rows in zip(reads, results, strict=True)]


def _row(read: _Read, values: Sequence[Any]) -> Any:
    return read.row(*(v if f is None else f(v) for f, v in zip(read.results, values, strict=True)))


async def _on_asyncpg(
    engine: AsyncEngine,
    raw: PoolProxiedConnection,
    sql: str,
    call: Callable[[Any], Awaitable[Any]],
) -> Any:
    """``call(asyncpg connection)`` with the adapter's lock held, its errors translated as
    SQLAlchemy's adapter translates them."""
    adapter: Any = raw.dbapi_connection
    async with adapter._execute_mutex:
        if adapter._transaction is not None:
            raise RuntimeError("the connection is inside a SQLAlchemy transaction")
        try:
            return await call(raw.driver_connection)
        except Exception as exc:
            try:
                adapter._handle_exception(exc)
            except engine.dialect.loaded_dbapi.Error as translated:
                raise DBAPIError.instance(
                    sql, None, translated, engine.dialect.loaded_dbapi.Error
                ) from None
            raise
