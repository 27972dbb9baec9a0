"""The organizations aggregate's store (store/orgs.py) against the port the organizations service
declares, on SQLite and PostgreSQL: what each method reads and writes, that a refusal writes
nothing, and that a deletion revokes the organization's API keys in its own transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from authward.identity.org_ports import OrgStorePort
from authward.runtime import Authward
from authward.store.audit import AuditEvent
from authward.store.orgs import OrgStore
from tests.conftest import SettingsFactory
from tests.integration.test_orgs import org_config


@pytest.fixture
async def aw(database_url: str, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    runtime = await Authward.open(org_config(), settings_for(database_url), migrate=True)
    yield runtime
    await runtime.close()


def store_of(aw: Authward) -> OrgStorePort:
    return OrgStore(aw.engine, aw.audit)


def org_row(org_id: str, slug: str, now: datetime) -> dict[str, Any]:
    return {"id": org_id, "slug": slug, "name": slug.title(), "created_at": now, "updated_at": now}


def member_row(user_id: str, role: str, now: datetime) -> dict[str, Any]:
    return {"user_id": user_id, "role": role, "created_at": now, "updated_at": now}


def event(kind: str, now: datetime) -> AuditEvent:
    return AuditEvent(kind, now, subject="tester")


async def kinds(aw: Authward) -> list[str]:
    """The organizations' and API keys' audit events, oldest first."""
    events = reversed(await aw.audit.recent())
    return [e.kind for e in events if e.kind.startswith(("org.", "apikey."))]


async def no_keys(_conn: Any, _org_id: str) -> Sequence[UUID]:
    return []


async def test_organizations_are_found_by_id_or_slug_and_listed_by_slug(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    assert await store.insert(org_row("org_b", "globex", now), event("org.created", now))
    assert await store.insert(org_row("org_a", "acme", now), event("org.created", now))
    by_id, by_slug = await store.find("org_a"), await store.find("acme")
    assert by_id is not None
    assert by_slug is not None
    assert (by_id.id, by_id.slug, by_id.name) == ("org_a", "acme", "Acme")
    assert by_slug.id == "org_a"
    assert await store.find("nope") is None
    assert await store.find("org_nope") is None
    assert [r.slug for r in await store.list()] == ["acme", "globex"]
    assert await kinds(aw) == ["org.created", "org.created"]


async def test_a_taken_slug_writes_nothing(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    assert await store.insert(org_row("org_a", "acme", now), event("org.created", now))
    assert not await store.insert(org_row("org_b", "acme", now), event("org.created", now))
    assert [r.id for r in await store.list()] == ["org_a"]
    assert await kinds(aw) == ["org.created"]


async def test_memberships_are_added_changed_read_and_removed(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    later = now + timedelta(seconds=5)
    await store.insert(org_row("org_a", "acme", now), event("org.created", now))
    await store.insert(org_row("org_b", "beta", now), event("org.created", now))

    def added(found: Any) -> AuditEvent:
        return AuditEvent("org.member_added", now, subject=found.id)

    found, ok = await store.add_member("acme", member_row("u2", "member", now), added)
    assert (found.id, ok) == ("org_a", True)
    assert (await store.add_member("org_a", member_row("u1", "admin", now), added))[1]
    assert (await store.add_member("beta", member_row("u1", "viewer", now), added))[1]
    # Already a member: the organization is read, nothing is written.
    found, ok = await store.add_member("acme", member_row("u1", "viewer", now), added)
    assert (found.id, ok) == ("org_a", False)
    assert await store.add_member("nope", member_row("u1", "admin", now), added) == (None, False)
    assert await kinds(aw) == ["org.created"] * 2 + ["org.member_added"] * 3

    found, rows = await store.members("acme")
    assert found.slug == "acme"
    assert [(r.user_id, r.role) for r in rows] == [("u1", "admin"), ("u2", "member")]
    assert await store.members("nope") == (None, [])
    mine = await store.memberships_of("u1")
    assert [(r.org_id, r.slug, r.role) for r in mine] == [
        ("org_a", "acme", "admin"),
        ("org_b", "beta", "viewer"),
    ]
    assert await store.role_of("acme", "u2") == "member"
    assert await store.role_of("org_a", "u9") is None
    assert await store.role_of("nope", "u2") is None

    def changed(found: Any, former: str) -> AuditEvent:
        return AuditEvent("org.member_role_changed", later, detail={"from": former})

    found, before = await store.set_role("acme", "u2", "admin", later, changed)
    assert (found.id, before.role, before.updated_at) == ("org_a", "member", now)
    assert await store.role_of("acme", "u2") == "admin"
    _, rows = await store.members("acme")
    assert [r.updated_at for r in rows] == [now, later]
    # The same role again writes nothing; an unknown member or organization reads as None.
    _, before = await store.set_role("acme", "u2", "admin", later, changed)
    assert before.role == "admin"
    found, before = await store.set_role("acme", "u9", "admin", later, changed)
    assert (found.id, before) == ("org_a", None)
    assert await store.set_role("nope", "u2", "admin", later, changed) == (None, None)
    recent = await aw.audit.recent()
    assert [e.kind for e in recent].count("org.member_role_changed") == 1
    assert recent[0].kind == "org.member_role_changed"
    assert recent[0].detail == {"from": "member"}

    def removed(found: Any, role: str) -> AuditEvent:
        return AuditEvent("org.member_removed", later, subject=found.id, detail={"role": role})

    found, role = await store.remove_member("acme", "u2", removed)
    assert (found.id, role) == ("org_a", "admin")
    found, role = await store.remove_member("acme", "u2", removed)
    assert (found.id, role) == ("org_a", None)
    assert await store.remove_member("nope", "u1", removed) == (None, None)
    assert (await kinds(aw)).count("org.member_removed") == 1
    assert await store.role_of("acme", "u2") is None


async def test_a_deletion_revokes_the_keys_in_its_own_transaction(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    await store.insert(org_row("org_a", "acme", now), event("org.created", now))
    await store.add_member(
        "acme", member_row("u1", "admin", now), lambda _: event("org.member_added", now)
    )
    await aw.api_keys.create("ci", org_id="org_a")
    await aw.api_keys.create("deploys", org_id="org_a")

    async def revoke(conn: Any, org_id: str) -> Sequence[UUID]:
        return await aw.api_keys.revoke_org_keys(conn, org_id, now=now)

    def refuse(*_: Any) -> AuditEvent:
        raise RuntimeError("the store went away")

    # The event fails after the keys were revoked: nothing of the deletion stays.
    with pytest.raises(RuntimeError):
        await store.delete("acme", revoke, refuse)
    aw.api_keys.invalidate()
    assert await store.find("org_a") is not None
    assert await store.role_of("org_a", "u1") == "admin"
    keys = await aw.api_keys.list(include_revoked=True)
    assert [k.status() for k in keys] == ["active", "active"]

    counts: list[tuple[str, int, int]] = []

    def deleted(found: Any, memberships: int, revoked: int) -> AuditEvent:
        counts.append((found.id, memberships, revoked))
        return event("org.deleted", now)

    found = await store.delete("org_a", revoke, deleted)
    assert found is not None
    assert found.slug == "acme"
    assert counts == [("org_a", 1, 2)]
    assert await store.find("org_a") is None
    assert await store.memberships_of("u1") == []
    keys = await aw.api_keys.list(include_revoked=True)
    assert [k.status() for k in keys] == ["revoked", "revoked"]
    assert (await kinds(aw))[-3:] == ["apikey.revoked", "apikey.revoked", "org.deleted"]
    assert await store.delete("acme", no_keys, deleted) is None
    assert len(counts) == 1
