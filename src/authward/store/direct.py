"""Hot-path statements: SQLAlchemy compiles them, the driver runs them (decisions 032, 043).

SQLAlchemy's execution layer (pool events, execution contexts, result objects, a greenlet switch
per statement) costs several times what a short statement costs the driver. The sign-in path
needs only two kinds of statement: inserts whose results nobody reads, and one-statement reads.
For those, the SQL, the parameters' order and the type conversions (UTC datetimes, JSON, UUIDs)
come from SQLAlchemy's compiler, once per statement, and the driver runs them on the pooled
connection SQLAlchemy hands out (``get_raw_connection().driver_connection``):

- SQLite: aiosqlite's public calls, one hand-off to its thread per statement or batch
  (:mod:`authward.store.sqlite_driver`);
- PostgreSQL: asyncpg's public calls (its own prepared-statement cache).

Only public APIs of SQLAlchemy, aiosqlite and asyncpg are used (decision 043; a test fails when
a private attribute is reached). Errors are raised as SQLAlchemy raises them
(``IntegrityError``, ``OperationalError``), without the statement's parameters.
"""

from __future__ import annotations

__all__ = ["Query", "Rows", "all_rows", "first_row", "insert_all", "write_returning"]

from collections import namedtuple
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import Delete, Dialect, Insert, Select, Update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler

from authward.store import sqlite_driver
from authward.store.engine import writer_turn

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


def _plan(dialect: Dialect, compiled: Any) -> _Plan:
    compiled = cast(SQLCompiler, compiled)
    if "POSTCOMPILE" in compiled.string:
        raise ValueError("store.direct runs no expanding (IN list) parameters")
    binds = compiled.binds
    order = compiled.positiontup or ()
    unique = list(dict.fromkeys(order))
    return _Plan(
        compiled.string,
        tuple(
            (
                n,
                # What SQLAlchemy's execution converts the value with (UTC datetimes, JSON).
                binds[n].type.dialect_impl(dialect).bind_processor(dialect),
                _GIVEN if binds[n].required else binds[n].effective_value,
            )
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
        found = _plan(dialect, compiled)
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
            _plan(dialect, statement.compile(dialect=dialect)),
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
            _plan(dialect, statement.compile(dialect=dialect)),
            namedtuple("Row", [str(c.key) for c in columns]),
            tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns),
        )
        if len(_writes) >= _MAX_CACHED:
            _writes.clear()
        _writes[(dialect, statement)] = found
    return found


async def insert_all(engine: AsyncEngine, batches: Sequence[Rows]) -> None:
    """Insert every batch's rows in one transaction, after the process's earlier writers (as
    :func:`authward.store.engine.begin_write`): all or nothing. A single row of a single
    statement is a transaction of its own (one hand-off on SQLite, one round trip on
    PostgreSQL); more run between ``BEGIN`` and ``COMMIT``, one ``executemany`` per batch."""
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
        driver = await _driver(conn)
        if engine.dialect.name == "sqlite":
            await sqlite_driver.run_transaction(driver, "BEGIN IMMEDIATE", steps)
            return

        async def transaction(pg: Any, running: list[str]) -> None:
            if len(steps) == 1 and len(steps[0][1]) == 1:
                running.append(steps[0][0])
                await pg.execute(steps[0][0], *steps[0][1][0])
                return
            async with pg.transaction():
                for sql, rows in steps:
                    running.append(sql)
                    await pg.executemany(sql, rows)

        await _on_asyncpg(engine.dialect, driver, transaction)


async def write_returning(
    engine: AsyncEngine,
    statement: Insert | Update | Delete,
    params: Mapping[str, Any],
    *,
    then: Query | None = None,
) -> tuple[list[Any], Any]:
    """The rows one writing statement returns (named tuples, as :func:`first_row` gives), run
    as a transaction of its own after the process's earlier writers (SQLite: one hand-off;
    PostgreSQL: one round trip, autocommit); and the first row of the ``then`` query (or
    ``None``), read right after on the same connection."""
    write = _write_plan(engine.dialect, statement)
    bound = write.plan.bind(params)
    read = _read_plan(engine.dialect, then[0]) if then is not None else None
    read_step = (read.plan.sql, read.plan.bind(then[1])) if read and then else None
    async with writer_turn(engine), engine.connect() as conn:
        driver = await _driver(conn)
        if engine.dialect.name == "sqlite":
            rows, found = await sqlite_driver.write_returning(
                driver, write.plan.sql, bound, read_step
            )
        else:

            async def both(pg: Any, running: list[str]) -> tuple[list[Any], Any]:
                running.append(write.plan.sql)
                written = await pg.fetch(write.plan.sql, *bound)
                if read_step is None:
                    return written, None
                running.append(read_step[0])
                return written, await pg.fetchrow(read_step[0], *read_step[1])

            rows, found = await _on_asyncpg(engine.dialect, driver, both)
    row = _row(read, found) if read is not None and found is not None else None
    return [_row(write, values) for values in rows], row


async def first_row(engine: AsyncEngine, statement: Select[Any], params: Mapping[str, Any]) -> Any:
    """The first row ``statement`` selects (a named tuple with the fields and values of
    SQLAlchemy's ``Row``), or ``None``: one statement, outside any transaction. On SQLite every
    row it selects is fetched: give it a statement that selects one."""
    read = _read_plan(engine.dialect, statement)
    bound = read.plan.bind(params)
    async with engine.connect() as conn:
        driver = await _driver(conn)
        if engine.dialect.name == "sqlite":
            values = await sqlite_driver.fetch_first(driver, read.plan.sql, bound)
        else:

            async def one(pg: Any, running: list[str]) -> Any:
                running.append(read.plan.sql)
                return await pg.fetchrow(read.plan.sql, *bound)

            values = await _on_asyncpg(engine.dialect, driver, one)
    return None if values is None else _row(read, values)


async def all_rows(engine: AsyncEngine, queries: Sequence[Query]) -> list[list[Any]]:
    """Every row of each query (named tuples, as :func:`first_row` gives), all read from one
    snapshot: one statement alone, several in one transaction (on PostgreSQL repeatable-read
    and read-only)."""
    reads = [_read_plan(engine.dialect, statement) for statement, _ in queries]
    steps = [
        (r.plan.sql, r.plan.bind(params)) for r, (_, params) in zip(reads, queries, strict=True)
    ]
    if not steps:
        return []
    async with engine.connect() as conn:
        driver = await _driver(conn)
        if engine.dialect.name == "sqlite":
            results = await sqlite_driver.fetch_all(driver, steps)
        else:

            async def snapshot(pg: Any, running: list[str]) -> list[Any]:
                if len(steps) == 1:
                    running.append(steps[0][0])
                    return [await pg.fetch(steps[0][0], *steps[0][1])]
                found = []
                async with pg.transaction(isolation="repeatable_read", readonly=True):
                    for sql, bound in steps:
                        running.append(sql)
                        found.append(await pg.fetch(sql, *bound))
                return found

            results = await _on_asyncpg(engine.dialect, driver, snapshot)
    return [[_row(r, values) for values in rows] for r, rows in zip(reads, results, strict=True)]


def _row(read: _Read, values: Sequence[Any]) -> Any:
    return read.row(*(v if f is None else f(v) for f, v in zip(read.results, values, strict=True)))


async def _driver(conn: AsyncConnection) -> Any:
    """The driver's own connection (aiosqlite's or asyncpg's) under ``conn``, which holds it
    for this task alone and has begun no SQLAlchemy transaction on it."""
    if conn.in_transaction():
        raise RuntimeError("store.direct runs outside SQLAlchemy transactions")
    return (await conn.get_raw_connection()).driver_connection


def _pg_errors() -> tuple[tuple[type[BaseException], str], ...]:
    """asyncpg's errors as SQLAlchemy's asyncpg dialect classifies them (the names of the DBAPI
    module's PEP 249 exceptions), most specific first. asyncpg is the postgres extra: imported
    only when a PostgreSQL engine runs a statement here."""
    import asyncpg  # type: ignore[import-untyped]

    return (
        (asyncpg.IntegrityConstraintViolationError, "IntegrityError"),
        (asyncpg.SyntaxOrAccessError, "ProgrammingError"),
        (asyncpg.InterfaceError, "InterfaceError"),
        (asyncpg.InternalServerError, "InternalError"),
        (asyncpg.InternalClientError, "InternalError"),
        (asyncpg.PostgresError, "Error"),
    )


async def _on_asyncpg(
    dialect: Dialect, driver: Any, call: Callable[[Any, list[str]], Awaitable[Any]]
) -> Any:
    """``call(driver, running)``, where ``running[-1]`` is the statement in flight; its errors
    raised as SQLAlchemy raises them: the DBAPI module's class for the error, the message
    without PostgreSQL's detail (which may quote values), and no parameters."""
    if driver.is_in_transaction():
        raise RuntimeError("store.direct runs outside transactions")
    running: list[str] = []
    try:
        return await call(driver, running)
    except Exception as exc:
        errors = _pg_errors()
        if not isinstance(exc, tuple(base for base, _ in errors)):
            raise
        dbapi = dialect.loaded_dbapi
        name = next(name for base, name in errors if isinstance(exc, base))
        message = exc.args[0] if exc.args else type(exc).__name__
        translated = getattr(dbapi, name)(message)
        sql = running[-1] if running else ""
        raise sa_exc.DBAPIError.instance(sql, None, translated, dbapi.Error) from None
