"""The users aggregate's store (store/users.py) against the port the users service declares, on
SQLite and PostgreSQL: what each method reads and writes, that a refusal writes nothing, and that
a sign-in's success is written all or nothing in the one call it makes after the hash."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from authward.runtime import Authward
from authward.store.audit import AuditEvent
from authward.store.limits import LimitPolicy, limit_key
from authward.store.schema import audit_events, login_throttle, sessions
from authward.store.schema import users as users_table
from authward.store.type_records import Records
from authward.store.users import Rehash, UserStore
from authward.users import InvalidCredentials, Users
from authward.users.ports import UserStorePort
from tests.conftest import SettingsFactory
from tests.integration.test_session_store import row as session_row

POLICY = LimitPolicy(2, timedelta(minutes=15), timedelta(minutes=1), timedelta(minutes=15))


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Any
) -> AsyncIterator[Authward]:
    runtime = await Authward.open(example_config, settings_for(database_url), migrate=True)
    yield runtime
    await runtime.close()


def store_of(aw: Authward) -> UserStorePort:
    return UserStore(aw.engine, aw.audit)


def user_row(username: str, now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "username": username,
        "profile_id": None,
        "password_hash": "hash-1",
        "disabled": False,
        "email_verified": False,
        "created_at": now,
        "updated_at": now,
        **extra,
    }


async def count(aw: Authward, table: Any) -> int:
    async with aw.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def kinds(aw: Authward) -> list[str]:
    async with aw.engine.connect() as conn:
        query = (
            select(audit_events.c.kind)
            .where(audit_events.c.kind != "config.synced")
            .order_by(audit_events.c.id)
        )
        return list((await conn.execute(query)).scalars())


async def failures(aw: Authward) -> dict[str, int]:
    async with aw.engine.connect() as conn:
        rows = await conn.execute(select(login_throttle.c.key, login_throttle.c.failures))
        return {r.key: r.failures for r in rows}


async def test_rows_are_read_back_by_id_name_and_in_order(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    alice = user_row("alice@example.com", now)
    assert await store.insert(alice, AuditEvent("user.created", now))
    assert await store.insert(
        user_row("bob@example.com", now + timedelta(seconds=1)), AuditEvent("user.created", now)
    )
    got = await store.get(alice["id"])
    assert got is not None
    assert (got.username, got.password_hash, got.disabled) == ("alice@example.com", "hash-1", False)
    found = await store.find("alice@example.com")
    assert found is not None
    assert found.id == alice["id"]
    assert await store.get(uuid.uuid4()) is None
    assert await store.find("carol@example.com") is None
    assert [r.username for r in await store.list()] == ["alice@example.com", "bob@example.com"]
    assert await kinds(aw) == ["user.created", "user.created"]


async def test_a_taken_username_writes_nothing(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    assert await store.insert(user_row("alice@example.com", now), AuditEvent("user.created", now))
    again = user_row("alice@example.com", now)
    assert not await store.insert(again, AuditEvent("user.created", now))
    assert await count(aw, users_table) == 1
    assert await kinds(aw) == ["user.created"]


async def test_disable_and_password_change_write_their_event_or_nothing(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    alice = user_row("alice@example.com", now)
    await store.insert(alice, AuditEvent("user.created", now))

    def event(kind: str) -> Any:
        return lambda user_id: AuditEvent(kind, now, subject=user_id)

    changed = await store.set_disabled("alice@example.com", True, now, event("user.disabled"))
    assert changed is not None
    assert changed.disabled
    assert changed.id == alice["id"]
    assert await store.set_disabled("nobody", True, now, event("user.disabled")) is None
    assert await store.set_password("alice@example.com", "hash-2", now, event("user.password_set"))
    assert not await store.set_password("nobody", "hash-3", now, event("user.password_set"))
    stored = await store.get(alice["id"])
    assert stored is not None
    assert (stored.disabled, stored.password_hash) == (True, "hash-2")
    assert await kinds(aw) == ["user.created", "user.disabled", "user.password_set"]


async def test_an_attempt_is_counted_with_its_user_read_and_refused_once_locked(
    aw: Authward,
) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    alice = user_row("alice@example.com", now)
    await store.insert(alice, AuditEvent("user.created", now))
    key = limit_key("account", "alice@example.com", POLICY)
    first = await store.take_attempt([key], now, "alice@example.com")
    assert first.granted
    assert first.read is not None
    assert first.read.id == alice["id"]
    unknown = await store.take_attempt([limit_key("account", "x", POLICY)], now, None)
    assert unknown.granted
    assert unknown.read is None
    second = await store.take_attempt([key], now, "alice@example.com")
    assert second.granted
    assert second.locked_until == now + POLICY.first_delay  # the threshold-th attempt locks
    refused = await store.take_attempt([key], now, "alice@example.com")
    assert not refused.granted
    assert refused.retry_after_seconds(now) == 60
    assert refused.read is not None  # the user is read even so (its audit row names it)
    assert (await failures(aw))[key.digest] == 2  # a refused attempt is not counted


async def test_a_refusal_writes_its_event_and_prunes_expired_counts(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    old = limit_key("account", "old", POLICY)
    await store.take_attempt([old], now - timedelta(hours=1), None)
    await store.record_refusal(AuditEvent("user.login_throttled", now), prune=None)
    assert old.digest in await failures(aw)
    await store.record_refusal(AuditEvent("user.login_failed", now), prune=now)
    assert old.digest not in await failures(aw)
    assert await kinds(aw) == ["user.login_throttled", "user.login_failed"]


async def test_a_login_writes_its_session_release_and_rehash_together(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    alice = user_row("alice@example.com", now)
    await store.insert(alice, AuditEvent("user.created", now))
    account = limit_key("account", "alice@example.com", POLICY)
    address = limit_key("ip", "203.0.113.9", POLICY)
    for _ in range(2):
        await store.take_attempt([account, address], now, "alice@example.com")
    await store.record_login(
        [AuditEvent("session.created", now), AuditEvent("user.login", now)],
        cleared=account,
        returned=address,
        rehash=Rehash(str(alice["id"]), "hash-1", "hash-2", now),
        session=session_row("s1", str(alice["id"]), now),
    )
    assert await failures(aw) == {account.digest: 0, address.digest: 1}
    stored = await store.get(alice["id"])
    assert stored is not None
    assert stored.password_hash == "hash-2"
    assert await count(aw, sessions) == 1
    assert await kinds(aw) == ["user.created", "session.created", "user.login"]
    # A hash changed since it was read is kept: the rehash replaces only the one that matched.
    await store.record_login(
        [], cleared=account, returned=None, rehash=Rehash(str(alice["id"]), "hash-1", "x", now)
    )
    stored = await store.get(alice["id"])
    assert stored is not None
    assert stored.password_hash == "hash-2"


async def test_a_login_that_fails_to_write_writes_nothing(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    alice = user_row("alice@example.com", now)
    await store.insert(alice, AuditEvent("user.created", now))
    account = limit_key("account", "alice@example.com", POLICY)
    await store.take_attempt([account], now, "alice@example.com")
    await store.record_login(
        [], cleared=account, returned=None, session=session_row("s1", str(alice["id"]), now)
    )
    await store.take_attempt([account], now, "alice@example.com")
    with pytest.raises(IntegrityError):  # the same session id again
        await store.record_login(
            [AuditEvent("user.login", now)],
            cleared=account,
            returned=None,
            rehash=Rehash(str(alice["id"]), "hash-1", "hash-2", now),
            session=session_row("s1", str(alice["id"]), now),
        )
    assert (await failures(aw))[account.digest] == 1
    stored = await store.get(alice["id"])
    assert stored is not None
    assert stored.password_hash == "hash-1"
    assert await kinds(aw) == ["user.created"]


class CountingStore:
    """The real store, noting each call the service makes of it."""

    def __init__(self, inner: UserStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await method(*args, **kwargs)

        return call


async def test_a_sign_in_is_two_store_calls(aw: Authward) -> None:
    """Decisions 025, 032 and 037: the attempt and the user before the hash, everything a
    success or a failure writes after it; each call is one hand-off on SQLite."""
    profile = aw.config.auth.user_profile
    assert profile is not None
    counting = CountingStore(UserStore(aw.engine, aw.audit))
    users = Users(
        cast(UserStorePort, counting),
        sessions=aw.sessions,
        profile=profile,
        profiles=Records(profile.type, aw.engine),
        hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1),
    )
    other = {"organization_id": uuid.uuid4(), "team_id": uuid.uuid4()}
    await users.create("alice@example.com", "correct horse battery", profile=other)
    for attempt in (
        users.sign_in("alice@example.com", "correct horse battery", ip="203.0.113.9"),
        users.authenticate("alice@example.com", "correct horse battery", ip="203.0.113.9"),
    ):
        counting.calls.clear()
        await attempt
        assert counting.calls == ["take_attempt", "record_login"]
    counting.calls.clear()
    with pytest.raises(InvalidCredentials):
        await users.sign_in("alice@example.com", "wrong password!!", ip="203.0.113.9")
    assert counting.calls == ["take_attempt", "record_refusal"]
