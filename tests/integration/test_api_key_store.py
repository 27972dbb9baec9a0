"""The API keys aggregate's store (store/api_keys.py) against the port the API keys service
declares, on SQLite and PostgreSQL: what each method reads and writes, that a refused insert or
a rolled-back organization deletion writes nothing, and that uses only move forward."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from uuid import UUID, uuid4

import pytest

from authward.errors import ConfigError, StoreError
from authward.identity.api_key_ports import ApiKeyStorePort
from authward.runtime import Authward
from authward.store.api_keys import ApiKeyStore
from authward.store.audit import AuditEvent, AuditStore
from authward.store.engine import begin_write, create_engine


def store_of(aw: Authward) -> ApiKeyStorePort:
    return ApiKeyStore(aw.engine, aw.audit)


def row(name: str, now: datetime, **owner: str) -> dict[str, Any]:
    return {
        "id": uuid4(),
        "digest": f"{name:0>64}",
        "hint": name[-4:],
        "name": name,
        "user_id": owner.get("user_id"),
        "org_id": owner.get("org_id"),
        "scopes": ["read"],
        "created_at": now,
        "expires_at": None,
    }


def event(kind: str, now: datetime) -> Any:
    def make(owner: Any) -> AuditEvent:
        return AuditEvent(kind, now, subject=str(owner))

    return make


def no_such_org(org: str) -> NoReturn:
    raise ConfigError(f"no organization {org!r}", path="org_id")


async def kinds(aw: Authward) -> list[str]:
    """The kinds of the events the tests wrote, newest first."""
    return [e.kind for e in await aw.audit.recent() if e.kind in ("made", "gone")]


async def test_rows_are_read_back_by_id_digest_owner_and_slug(runtime: Authward) -> None:
    store, now = store_of(runtime), datetime.now(UTC)
    acme = await runtime.organizations.create("acme", "Acme")
    mine = row("mine", now, user_id="u1")
    assert await store.insert(mine, event("made", now), no_such_org) is None
    by_slug = row("by-slug", now + timedelta(seconds=1), org_id="acme")
    assert await store.insert(by_slug, event("made", now), no_such_org) == acme.id
    made_org, made_user = await runtime.audit.recent(limit=2)
    assert (made_org.kind, made_org.subject) == ("made", acme.id)  # the event has the id
    assert (made_user.kind, made_user.subject) == ("made", "None")

    got = await store.get(by_slug["id"])
    assert got is not None
    assert (got.org_id, got.scopes, got.revoked_at) == (acme.id, ["read"], None)
    assert await store.get(uuid4()) is None
    found = await store.by_digest(mine["digest"])
    assert found is not None
    assert (found.id, found.user_id, found.expires_at) == (mine["id"], "u1", None)
    assert await store.by_digest("0" * 64) is None

    assert [r.name for r in await store.list(None, None, False)] == ["mine", "by-slug"]
    assert [r.name for r in await store.list("u1", None, False)] == ["mine"]
    for org in (acme.id, "acme"):
        assert [r.name for r in await store.list(None, org, False)] == ["by-slug"]
    assert await store.list(None, "other", False) == []


async def test_a_key_of_an_unknown_organization_writes_nothing(runtime: Authward) -> None:
    store, now = store_of(runtime), datetime.now(UTC)
    for org in ("org_0000000000000000000000", "ghost"):
        with pytest.raises(ConfigError, match=repr(org)):
            await store.insert(row("k", now, org_id=org), event("made", now), no_such_org)
    assert await store.list(None, None, True) == []
    assert await kinds(runtime) == []


async def test_revoke_once_with_the_event_made_from_the_row(runtime: Authward) -> None:
    store, now = store_of(runtime), datetime.now(UTC)
    key = row("k", now, user_id="u1")
    await store.insert(key, event("made", now), no_such_org)
    seen: list[tuple[str, str, str | None]] = []

    def revoked(found: Any) -> AuditEvent:
        seen.append((found.name, found.hint, found.user_id))
        return AuditEvent("gone", now, subject=found.user_id)

    assert await store.revoke(key["id"], now, revoked) is True
    assert await store.revoke(key["id"], now, revoked) is False
    assert await store.revoke(uuid4(), now, revoked) is False
    assert seen == [("k", "k", "u1")]
    assert await kinds(runtime) == ["gone", "made"]
    assert await store.list(None, None, False) == []
    [gone] = await store.list(None, None, True)
    assert gone.revoked_at is not None


async def test_org_keys_are_revoked_in_the_callers_transaction(runtime: Authward) -> None:
    store, now = store_of(runtime), datetime.now(UTC)
    acme = await runtime.organizations.create("acme", "Acme")
    keys = [row(f"k{i}", now + timedelta(seconds=i), org_id=acme.id) for i in range(3)]
    for key in keys:
        await store.insert(key, event("made", now), no_such_org)
    await store.insert(row("user", now, user_id="u1"), event("made", now), no_such_org)
    await store.revoke(keys[2]["id"], now, event("gone", now))

    class Undone(Exception):
        pass

    heard: list[list[UUID]] = []

    async def revoke_then_fail() -> None:
        async with begin_write(runtime.engine) as conn:
            heard.append(await store.revoke_org_keys(conn, acme.id, now, "admin"))
            raise Undone

    with pytest.raises(Undone):
        await revoke_then_fail()
    assert heard == [[keys[0]["id"], keys[1]["id"]]]  # oldest first, revoked ones left out
    assert len(await store.list(None, acme.id, False)) == 2  # rolled back with the caller

    async with begin_write(runtime.engine) as conn:
        assert len(await store.revoke_org_keys(conn, acme.id, now, "admin")) == 2
    assert await store.list(None, acme.id, False) == []
    assert [r.name for r in await store.list(None, None, False)] == ["user"]
    revoked = await runtime.audit.recent(limit=2)
    assert {(e.kind, e.actor, e.subject) for e in revoked} == {("apikey.revoked", "admin", acme.id)}
    assert {e.detail["reason"] for e in revoked} == {"org.deleted"}
    async with begin_write(runtime.engine) as conn:
        assert await store.revoke_org_keys(conn, acme.id, now, None) == []


async def test_uses_only_move_last_used_at_forward(runtime: Authward) -> None:
    store, now = store_of(runtime), datetime.now(UTC)
    first, second = row("a", now, user_id="u1"), row("b", now, user_id="u1")
    for key in (first, second):
        await store.insert(key, event("made", now), no_such_org)
    later = now + timedelta(minutes=1)
    await store.record_uses({first["id"]: later, second["id"]: now})
    await store.record_uses({first["id"]: now})  # an older use another process flushed late

    def used(key: Mapping[str, Any]) -> Any:
        return next(r.last_used_at for r in listed if r.id == key["id"])

    listed = await store.list(None, None, False)
    assert (used(first), used(second)) == (later, now)
    await store.record_uses({uuid4(): later})  # a deleted key: nothing to write, no error


async def test_uses_that_cannot_be_written_are_a_store_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'not-migrated.db'}")
    try:
        store: ApiKeyStorePort = ApiKeyStore(engine, AuditStore(engine))
        with pytest.raises(StoreError, match="cannot use database"):
            await store.record_uses({UUID(int=1): datetime.now(UTC)})
    finally:
        await engine.dispose()
