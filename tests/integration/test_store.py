"""The store on SQLite and PostgreSQL: migrations, type tables, config sync, secrets at rest."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from authward import db, define_auth, define_config
from authward.config import Config
from authward.errors import SettingsError, StoreError, TokenError
from authward.runtime import Authward
from authward.store import migrate as migrations
from authward.store.audit import AuditEvent, audit_rows
from authward.store.direct import all_rows, first_row, insert_all
from authward.store.engine import begin_write, create_engine
from authward.store.schema import (
    audit_events,
    machine_users,
    metadata,
    oauth2_clients,
    revoked_tokens,
    signing_keys,
)
from authward.store.type_tables import type_tables
from tests.conftest import SettingsFactory


def _user_row(email: str) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "email": email,
        "role": "USER",
        "organization_id": uuid.uuid4(),
        "team_id": uuid.uuid4(),
        "created_at": datetime.now(UTC),
    }


async def _count(aw: Authward, table: object) -> int:
    async with aw.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_migration_creates_exactly_the_declared_schema(runtime: Authward) -> None:
    async with runtime.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), metadata)
        )
    # Beyond authward's own schema, only the app's type table exists.
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "user")] == []
    assert await migrations.current_revision(runtime.engine) == migrations.head_revision()


async def test_type_table_enforces_unique_and_required_fields(runtime: Authward) -> None:
    table = type_tables(runtime.config.db_types)["User"]
    async with runtime.engine.begin() as conn:
        await conn.execute(table.insert().values(**_user_row("a@example.com")))
    with pytest.raises(IntegrityError):
        async with runtime.engine.begin() as conn:
            await conn.execute(table.insert().values(**_user_row("a@example.com")))
    row = _user_row("b@example.com")
    del row["role"]
    with pytest.raises(IntegrityError):
        async with runtime.engine.begin() as conn:
            await conn.execute(table.insert().values(**row))


async def test_new_optional_field_becomes_a_column_and_keeps_rows(
    runtime: Authward, example_config: Config
) -> None:
    table = type_tables(runtime.config.db_types)["User"]
    async with runtime.engine.begin() as conn:
        await conn.execute(table.insert().values(**_user_row("keep@example.com")))
    user_type = example_config.auth.user_profile.type  # type: ignore[union-attr]
    grown = db.type(
        "User",
        {
            **{k: v for k, v in user_type.fields.items() if k != "id"},
            "nickname": db.string().optional().unique(),
        },
    )
    changes = await migrations.migrate(runtime.engine, [grown])
    assert changes == ["added column user.nickname"]
    grown_table = type_tables([grown])["User"]
    async with runtime.engine.begin() as conn:
        rows = (await conn.execute(select(grown_table))).mappings().all()
        assert [(r["email"], r["nickname"]) for r in rows] == [("keep@example.com", None)]
        await conn.execute(grown_table.insert().values(**_user_row("c@example.com"), nickname="x"))
    with pytest.raises(IntegrityError):
        async with runtime.engine.begin() as conn:
            await conn.execute(
                grown_table.insert().values(**_user_row("d@example.com"), nickname="x")
            )
    assert await migrations.migrate(runtime.engine, [grown]) == []


async def test_new_required_field_on_a_table_with_rows_is_refused(
    runtime: Authward, example_config: Config
) -> None:
    table = type_tables(runtime.config.db_types)["User"]
    async with runtime.engine.begin() as conn:
        await conn.execute(table.insert().values(**_user_row("keep@example.com")))
    user_type = example_config.auth.user_profile.type  # type: ignore[union-attr]
    grown = db.type(
        "User", {**{k: v for k, v in user_type.fields.items() if k != "id"}, "age": db.int()}
    )
    with pytest.raises(StoreError, match=r"User\.age is a new required field .* 1 rows"):
        await migrations.migrate(runtime.engine, [grown])
    async with runtime.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(table))).scalar_one() == 1


async def test_newer_schema_is_refused_and_nothing_changes(runtime: Authward) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="newer than this authward knows"):
        await migrations.migrate(runtime.engine, runtime.config.db_types)
    with pytest.raises(StoreError, match="newer than this authward knows"):
        await migrations.require_current_schema(runtime.engine)
    assert await migrations.current_revision(runtime.engine) == "9999"
    assert await _count(runtime, machine_users) == 2


async def test_sync_is_idempotent(
    runtime: Authward, database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    before = {mu.name: mu.client_id for mu in await runtime.machine_users.list()}
    secret = await runtime.clients.client_secret("my-oauth2-client")
    again = await Authward.open(example_config, settings_for(database_url), migrate=True)
    try:
        assert await again.sync() == []
        assert {mu.name: mu.client_id for mu in await again.machine_users.list()} == before
        assert await again.clients.client_secret("my-oauth2-client") == secret
        assert await _count(again, machine_users) == 2
        assert await _count(again, oauth2_clients) == 1
        # The access-token key, and the RS256 one for the client's ID tokens.
        assert await _count(again, signing_keys) == 2
    finally:
        await again.close()


async def test_concurrent_starts_do_not_duplicate(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    first = await Authward.open(example_config, settings_for(database_url), migrate=True)
    try:
        others = await asyncio.gather(
            *(Authward.open(example_config, settings_for(database_url)) for _ in range(3))
            if database_url.startswith("sqlite")
            else (
                Authward.open(example_config, settings_for(database_url), migrate=True)
                for _ in range(3)
            )
        )
        for other in others:
            await other.close()
        assert await _count(first, signing_keys) == 2  # EdDSA for access tokens, RS256
        assert await _count(first, machine_users) == 2
    finally:
        await first.close()


async def test_removed_machine_user_is_deleted_and_its_tokens_stop_verifying(
    runtime: Authward, database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    token = await runtime.machine_user_token("readonly-machine-user")
    await runtime.verify_access_token(token)
    auth = example_config.auth
    smaller = define_auth(
        auth.name,
        user_profile={
            "type": auth.user_profile.type,  # type: ignore[union-attr]
            "username_field": "email",
            "attributes": {"role": True},
            "attribute_list": ["organization_id", "team_id"],
        },
        machine_users={
            "admin-machine-user": {
                "attributes": {"role": "ADMIN"},
                "attribute_list": [
                    str(u) for u in auth.machine_users["admin-machine-user"].attribute_list
                ],
            }
        },
    )
    shrunk = await Authward.open(
        define_config(auth=smaller), settings_for(database_url, sync_prune=True), migrate=True
    )
    try:
        assert [mu.name for mu in await shrunk.machine_users.list()] == ["admin-machine-user"]
        assert await shrunk.clients.list() == []
        with pytest.raises(TokenError) as err:
            await shrunk.verify_access_token(token)
        assert err.value.reason == "token-subject-unknown"
    finally:
        await shrunk.close()
    runtime.verifier.invalidate()
    with pytest.raises(TokenError):
        await runtime.verify_access_token(token)


async def test_secrets_are_sealed_at_rest(runtime: Authward, tmp_path: Path) -> None:
    secret = await runtime.clients.client_secret("my-oauth2-client")
    assert secret is not None
    plain = secret.get_secret_value()
    assert plain.startswith("awsec_")
    async with runtime.engine.connect() as conn:
        stored = (await conn.execute(select(oauth2_clients.c.client_secret))).scalar_one()
        private = (await conn.execute(select(signing_keys.c.private_key))).scalars().all()
    assert plain.encode() not in stored
    assert len(private) == 2  # EdDSA for access tokens, RS256 for ID tokens
    assert not any(b"PRIVATE KEY" in p for p in private)
    key_file = tmp_path / "authward.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


async def test_a_sealed_secret_copied_to_another_row_does_not_open(runtime: Authward) -> None:
    async with runtime.engine.begin() as conn:
        rows = (await conn.execute(select(machine_users.c.id, machine_users.c.client_secret))).all()
        await conn.execute(
            machine_users.update()
            .where(machine_users.c.id == rows[0].id)
            .values(client_secret=rows[1].client_secret)
        )
    names = {mu.id: mu.name for mu in await runtime.machine_users.list()}
    with pytest.raises(SettingsError, match="integrity check"):
        await runtime.machine_users.client_secret(names[rows[0].id])


async def test_missing_key_file_is_refused_without_touching_the_store(
    runtime: Authward,
    database_url: str,
    settings_for: SettingsFactory,
    example_config: Config,
    tmp_path: Path,
) -> None:
    (tmp_path / "authward.key").unlink()
    with pytest.raises(SettingsError, match=r"key file .* is missing"):
        await Authward.open(example_config, settings_for(database_url), migrate=True)
    assert not (tmp_path / "authward.key").exists()
    assert await _count(runtime, signing_keys) == 2  # EdDSA for access tokens, RS256


async def test_a_different_instance_key_is_refused(
    runtime: Authward, database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    with pytest.raises(SettingsError, match="not the one this store's secrets were sealed with"):
        await Authward.open(
            example_config, settings_for(database_url, secret_key="x" * 40), migrate=True
        )


async def test_unreachable_database_is_one_clear_error(
    settings_for: SettingsFactory, example_config: Config
) -> None:
    url = "postgresql://postgres:hunter2@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError) as err:
        await Authward.open(example_config, settings_for(url), migrate=True)
    message = str(err.value)
    assert message.startswith(
        "cannot use database postgresql+asyncpg://postgres:***@127.0.0.1:1/nowhere"
    )
    assert "hunter2" not in message
    assert "\n" not in message


async def test_postgres_server_refuses_a_stale_schema(
    postgres_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    with pytest.raises(StoreError, match="run `authward migrate`"):
        await Authward.open(example_config, settings_for(postgres_url))
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: c.dialect.get_table_names(c))
        assert tables == []
    finally:
        await engine.dispose()


async def test_pooled_connections_the_server_closed_are_replaced_unnoticed(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url, pool_size=3)
    try:

        async def backend_pid() -> int:
            async with engine.connect() as conn:
                return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

        # Three connections in the pool at once, then every one of them terminated by the server.
        pids = set(await asyncio.gather(*(backend_pid() for _ in range(3))))
        assert len(pids) == 3
        await _terminate(postgres_url, pids)
        # Each checkout finds a closed connection, drops it and opens a new one: no error.
        after = set(await asyncio.gather(*(backend_pid() for _ in range(3))))
        assert after.isdisjoint(pids)
    finally:
        await engine.dispose()


async def _terminate(postgres_url: str, pids: set[int]) -> None:
    engine = create_engine(postgres_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    finally:
        await engine.dispose()
    # The server closes each socket a moment after pg_terminate_backend returns.
    await asyncio.sleep(0.2)


def _revoked_row() -> dict[str, object]:
    now = datetime.now(UTC)
    return {"jti": uuid.uuid4().hex, "expires_at": now, "revoked_at": now, "reason": "test"}


async def test_a_failed_write_transaction_leaves_nothing_behind(runtime: Authward) -> None:
    """The transaction really begins (SQLite's BEGIN is sent by our hook, not by sqlite3): a
    write inside it that fails takes the earlier writes of the transaction with it."""

    async def write_then_fail() -> None:
        async with begin_write(runtime.engine) as conn:
            await conn.execute(revoked_tokens.insert().values(_revoked_row()))
            raise RuntimeError("fails after a write")

    before = await _count(runtime, revoked_tokens)
    with pytest.raises(RuntimeError):
        await write_then_fail()
    assert await _count(runtime, revoked_tokens) == before


async def test_writers_of_one_process_get_the_sqlite_write_lock_in_the_order_they_asked(
    sqlite_runtime: Authward,
) -> None:
    # SQLite alone would let whichever writer's busy-wait happens to wake first go next, so a
    # writer could wait seconds under load while later ones went before it.
    order: list[int] = []

    async def write(i: int) -> None:
        async with begin_write(sqlite_runtime.engine) as conn:
            await conn.execute(revoked_tokens.insert().values(_revoked_row()))
            order.append(i)

    await asyncio.gather(*(write(i) for i in range(24)))
    assert order == list(range(24))
    assert await _count(sqlite_runtime, revoked_tokens) == 24


async def test_a_busy_sqlite_database_at_begin_is_sqlalchemys_operational_error(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    engine = create_engine(url)
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA busy_timeout=50")
            await conn.commit()
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            writer = await conn.execution_options(authward_write_lock=True)
            await writer.begin()  # BEGIN IMMEDIATE goes with the first statement
            with pytest.raises(OperationalError, match="database is locked"):
                await writer.execute(text("SELECT 1"))
            await writer.rollback()
            holder.execute("ROLLBACK")
            # The failed BEGIN left nothing pending: the connection works on.
            assert (await writer.execute(text("SELECT 1"))).scalar() == 1
    finally:
        holder.close()
        await engine.dispose()


async def test_a_sqlite_transaction_begins_with_its_first_statement(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE travels with the transaction's first statement: until then nothing is
    locked, from then on the write lock is held to the end, and an empty transaction ends
    without error."""
    path = tmp_path / "begin.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        async with begin_write(engine) as conn:
            other.execute("INSERT INTO t VALUES (1)")  # not locked yet
            await conn.execute(text("SELECT count(*) FROM t"))
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("INSERT INTO t VALUES (2)")
            await conn.execute(text("INSERT INTO t VALUES (3)"))
        async with begin_write(engine):
            pass  # nothing ran: nothing to commit
        rows = other.execute("SELECT n FROM t ORDER BY n").fetchall()
        assert rows == [(1,), (3,)]
    finally:
        other.close()
        await engine.dispose()


async def test_a_sqlite_write_cancelled_mid_statement_raises_its_cancellation(
    tmp_path: Path,
) -> None:
    """A task cancelled while its write transaction runs a statement (a clean stop interrupting
    a run) gets its CancelledError, not an error about the invalidated connection: the job
    engine keeps a cancelled run pending, and records any other error as the run's failure.
    The next write works."""
    path = tmp_path / "cancel.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    started = asyncio.Event()

    async def slow_write() -> None:
        async with begin_write(engine) as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            started.set()
            count = "SELECT x + 1 FROM c WHERE x < 3000000"
            await conn.execute(
                text(f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL {count}) SELECT count(*) FROM c")
            )

    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        writing = asyncio.create_task(slow_write())
        await started.wait()
        writing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writing
        async with begin_write(engine) as conn:
            await conn.execute(text("INSERT INTO t VALUES (2)"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT n FROM t"))).scalars().all() == [2]
    finally:
        await engine.dispose()


async def test_a_sqlite_connection_goes_back_to_the_pool_with_no_transaction_open(
    tmp_path: Path,
) -> None:
    """The pool's rollback is skipped only when SQLite has nothing open: a transaction left
    open on the driver is rolled back when its connection is checked in, and its lock freed."""
    path = tmp_path / "reset.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        async with engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            await driver.execute("BEGIN IMMEDIATE")
            await driver.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("INSERT INTO t VALUES (2)")
        other.execute("INSERT INTO t VALUES (3)")  # the lock went with the rollback
        assert other.execute("SELECT n FROM t").fetchall() == [(3,)]
    finally:
        other.close()
        await engine.dispose()


async def test_sqlite_connections_keep_dbapi_semantics_under_our_transaction_hooks(
    tmp_path: Path,
) -> None:
    """With BEGIN sent before a transaction's first statement and the pool's rollback skipped
    when nothing is open (store/sqlite_driver.py), SQLAlchemy's aiosqlite adapter still answers
    as it does alone: rows, row counts, executemany, errors translated, and the connection still
    usable after an error."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)")
            many = await conn.execute(
                text("INSERT INTO t VALUES (:k, :n)"), [{"k": "a", "n": 1}, {"k": "b", "n": 2}]
            )
            assert many.rowcount == 2
            one = await conn.execute(text("INSERT INTO t VALUES ('c', 3)"))
            assert (one.rowcount, one.lastrowid) == (1, 3)
        async with engine.connect() as conn:
            with pytest.raises(IntegrityError):
                await conn.execute(text("INSERT INTO t VALUES ('a', 9)"))
            await conn.rollback()
            rows = (await conn.execute(text("SELECT k, n FROM t ORDER BY k"))).all()
            assert [tuple(r) for r in rows] == [("a", 1), ("b", 2), ("c", 3)]
            updated = await conn.execute(text("UPDATE t SET n = n + 1 WHERE n > 1"))
            assert updated.rowcount == 2
            streamed = await conn.stream(text("SELECT n FROM t ORDER BY n"))
            assert [r.n async for r in streamed] == [1, 3, 4]
    finally:
        await engine.dispose()


async def test_insert_all_writes_rows_as_sqlalchemy_would(runtime: Authward) -> None:
    """The rows read back the same as rows SQLAlchemy inserted itself: UTC datetimes, JSON,
    NULLs; several tables in one transaction."""
    at = datetime(2026, 12, 4, 3, 4, 5, 678901, tzinfo=UTC)
    direct = AuditEvent("test.direct", at, ip="10.0.0.1", detail={"n": [1, "two", None]})
    batched = [
        AuditEvent("test.batched", at, actor="a", detail={"n": [1, "two", None]}),
        AuditEvent("test.batched", at, subject="s", client_id="c", detail={}),
    ]
    revoked = _revoked_row()
    async with begin_write(runtime.engine) as conn:
        await runtime.audit.record(direct, conn)
    await insert_all(runtime.engine, [audit_rows(batched), (revoked_tokens.insert(), [revoked])])
    recent = await runtime.audit.recent(3)
    assert recent[2] == direct
    assert recent[:2][::-1] == batched
    assert recent[2].at == recent[0].at == at
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(select(revoked_tokens).where(revoked_tokens.c.jti == revoked["jti"]))
        ).one()
    assert row.expires_at == revoked["expires_at"]
    assert row.expires_at.tzinfo is UTC


async def test_insert_all_writes_nothing_when_one_row_fails(runtime: Authward) -> None:
    """All or nothing: a duplicate key in the last batch takes the earlier batches with it,
    the error is SQLAlchemy's and names no parameter value (the engine hides them on every
    path), and the next write goes through."""
    taken = _revoked_row()
    await insert_all(runtime.engine, [(revoked_tokens.insert(), [taken])])
    events_before = await _count(runtime, audit_events)
    revoked_before = await _count(runtime, revoked_tokens)
    fresh = _revoked_row()
    event = AuditEvent("test.rolled_back", datetime.now(UTC), detail={"secret": "never-shown"})
    with pytest.raises(IntegrityError) as failed:
        await insert_all(
            runtime.engine,
            [audit_rows([event]), (revoked_tokens.insert(), [fresh, dict(taken)])],
        )
    assert "never-shown" not in str(failed.value)
    assert str(taken["jti"]) not in str(failed.value)
    assert await _count(runtime, audit_events) == events_before
    assert await _count(runtime, revoked_tokens) == revoked_before
    await insert_all(runtime.engine, [(revoked_tokens.insert(), [fresh])])
    assert await _count(runtime, revoked_tokens) == revoked_before + 1


async def test_insert_all_refuses_rows_with_different_columns(sqlite_runtime: Authward) -> None:
    short = _revoked_row()
    del short["reason"]
    with pytest.raises(ValueError, match="same keys"):
        await insert_all(
            sqlite_runtime.engine, [(revoked_tokens.insert(), [_revoked_row(), short])]
        )
    assert await _count(sqlite_runtime, revoked_tokens) == 0


async def test_insert_all_waits_its_turn_behind_other_writers(sqlite_runtime: Authward) -> None:
    """It takes the same place in the writers' queue as begin_write."""
    order: list[str] = []

    async def transaction(i: int) -> None:
        async with begin_write(sqlite_runtime.engine) as conn:
            await conn.execute(revoked_tokens.insert().values(_revoked_row()))
            await asyncio.sleep(0.01)
            order.append(f"txn{i}")

    async def batch(i: int) -> None:
        await insert_all(sqlite_runtime.engine, [(revoked_tokens.insert(), [_revoked_row()])])
        order.append(f"batch{i}")

    await asyncio.gather(*(transaction(i) if i % 2 else batch(i) for i in range(10)))
    assert order == [f"txn{i}" if i % 2 else f"batch{i}" for i in range(10)]
    assert await _count(sqlite_runtime, revoked_tokens) == 10


async def test_first_row_reads_what_sqlalchemy_reads(runtime: Authward) -> None:
    """Values and types as SQLAlchemy's own execution gives them (UTC datetimes, JSON, integers,
    NULLs, a bound parameter used twice), ``None`` when nothing matches, and no transaction
    left open (a writer is not kept waiting)."""
    at = datetime(2026, 12, 4, 3, 4, 5, 678901, tzinfo=UTC)
    await insert_all(
        runtime.engine,
        [audit_rows([AuditEvent("test.read", at, ip=None, detail={"n": [1, "two"]})])],
    )
    kind = bindparam("kind")
    query = select(audit_events).where(
        audit_events.c.kind == kind, func.length(audit_events.c.kind) == func.length(kind)
    )
    ours = await first_row(runtime.engine, query, {"kind": "test.read"})
    async with runtime.engine.connect() as conn:
        theirs = (await conn.execute(query, {"kind": "test.read"})).one()
    assert tuple(ours) == tuple(theirs)
    assert ours._fields == tuple(theirs._fields)
    assert ours.at == at
    assert ours.at.tzinfo is UTC
    assert ours.detail == {"n": [1, "two"]}
    assert ours.ip is None
    assert await first_row(runtime.engine, query, {"kind": "test.none"}) is None
    async with begin_write(runtime.engine) as writer:
        await writer.execute(revoked_tokens.insert().values(_revoked_row()))


async def test_first_row_needs_distinct_column_names(sqlite_runtime: Authward) -> None:
    query = select(audit_events.c.id, revoked_tokens.c.jti.label("id"))
    with pytest.raises(ValueError, match="distinct names"):
        await first_row(sqlite_runtime.engine, query, {})


async def test_all_rows_reads_several_queries_as_sqlalchemy_would(runtime: Authward) -> None:
    """Each query's rows with SQLAlchemy's values and types, a LIMIT the statement holds itself,
    a parameter the caller gives, and no transaction left open afterwards."""
    at = datetime(2026, 12, 4, 4, 5, 6, 789012, tzinfo=UTC)
    events = [AuditEvent(f"test.all_rows.{i}", at, detail={"i": i}) for i in range(3)]
    await insert_all(runtime.engine, [audit_rows(events)])
    newest = select(audit_events).order_by(audit_events.c.id.desc()).limit(2)
    kind = select(audit_events.c.kind, audit_events.c.detail).where(
        audit_events.c.kind == bindparam("kind")
    )
    ours = await all_rows(runtime.engine, [(newest, {}), (kind, {"kind": "test.all_rows.1"})])
    async with runtime.engine.connect() as conn:
        theirs = [
            (await conn.execute(newest)).all(),
            (await conn.execute(kind, {"kind": "test.all_rows.1"})).all(),
        ]
    assert [[tuple(r) for r in rows] for rows in ours] == [
        [tuple(r) for r in rows] for rows in theirs
    ]
    assert [r.kind for r in ours[0]] == ["test.all_rows.2", "test.all_rows.1"]
    assert ours[0][0].at == at
    assert ours[0][0].at.tzinfo is UTC
    assert ours[1][0].detail == {"i": 1}
    assert await all_rows(runtime.engine, []) == []
    with pytest.raises(KeyError):
        await all_rows(runtime.engine, [(kind, {})])
    async with begin_write(runtime.engine) as writer:  # nothing left holding a lock
        await writer.execute(revoked_tokens.insert().values(_revoked_row()))
