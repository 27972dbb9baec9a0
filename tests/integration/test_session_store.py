"""The sessions aggregate's store (store/sessions.py) against the port the sessions service
declares, on SQLite and PostgreSQL: what each method reads and writes, and that a refusal or an
ended session writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from authward.errors import TokenError
from authward.identity.session_ports import SessionStorePort
from authward.runtime import Authward
from authward.store.audit import AuditEvent
from authward.store.sessions import SessionStore
from tests.conftest import SettingsFactory
from tests.integration.test_orgs import org_config


@pytest.fixture
async def aw(database_url: str, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    runtime = await Authward.open(org_config(), settings_for(database_url), migrate=True)
    yield runtime
    await runtime.close()


def store_of(aw: Authward) -> SessionStorePort:
    return SessionStore(aw.engine, aw.keys, aw.audit)


def row(session_id: str, user_id: str, now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": session_id,
        "digest": f"digest-{session_id}",
        "user_id": user_id,
        "active_org_id": None,
        "claims": {"amr": ["pwd"]},
        "ip": None,
        "user_agent": None,
        "created_at": now,
        "last_active_at": now,
        "expires_at": now + timedelta(hours=1),
        **extra,
    }


def event(kind: str, now: datetime) -> AuditEvent:
    return AuditEvent(kind, now, subject="u1")


async def test_rows_are_read_back_by_id_digest_and_user(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    await store.insert(row("s1", "u1", now), [event("session.created", now)])
    await store.insert(
        row("s2", "u1", now + timedelta(seconds=1), expires_at=now - timedelta(seconds=1)), []
    )
    got = await store.get("s1")
    assert got is not None
    assert got.user_id == "u1"
    assert got.claims == {"amr": ["pwd"]}
    found = await store.by_digest("digest-s1")
    assert found is not None
    assert found.id == "s1"
    assert await store.get("nope") is None
    assert await store.by_digest("nope") is None
    assert [r.id for r in await store.list("u1", None)] == ["s2", "s1"]  # newest first
    assert [r.id for r in await store.list("u1", now)] == ["s1"]  # the expired one left out
    state = await store.state("s1")
    assert state is not None
    assert state.revoked_at is None


async def test_a_refused_touch_writes_nothing(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    await store.insert(row("s1", "u1", now - timedelta(minutes=5)), [])

    def refuse(_row: Any) -> None:
        raise TokenError("session-revoked", "refused")

    with pytest.raises(TokenError):
        await store.touch("digest-s1", now, refuse)
    before = await store.get("s1")
    assert before is not None
    assert before.last_active_at < now - timedelta(minutes=1)
    touched = await store.touch("digest-s1", now, lambda _row: None)
    assert touched is not None
    assert touched.member_role is None
    after = await store.get("s1")
    assert after is not None
    assert after.last_active_at > now - timedelta(minutes=1)
    assert await store.touch("nope", now, lambda _row: None) is None


async def test_revocations_are_heard_before_the_write_and_show_in_the_feed(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    for sid in ("s1", "s2", "s3"):
        await store.insert(row(sid, "u1", now), [])
    heard: list[Mapping[str, float]] = []
    assert await store.revoke("s1", now, heard.append, lambda user: event("revoked", now))
    assert not await store.revoke("s1", now, heard.append, lambda user: event("revoked", now))
    assert not await store.revoke("nope", now, heard.append, lambda user: event("revoked", now))
    ended = await store.revoke_all(
        "u1", "s3", now, heard.append, lambda ids: AuditEvent("all", now, detail={"ids": ids})
    )
    assert ended == 1
    assert [sorted(h) for h in heard] == [["s1"], ["s1"], ["s2"]]
    assert not await store.set_active_org("s2", None, event("org", now))
    assert await store.set_active_org("s3", None, event("org", now))
    _keys, revoked = await store.feed(now - timedelta(seconds=1), now)
    assert sorted(revoked) == ["s1", "s2"]
    _keys, later = await store.feed(now + timedelta(seconds=1), now)
    assert later == []
