"""Organizations on SQLite and PostgreSQL: CRUD, memberships, roles validated against the config,
permissions from the config, audit events; deleting an organization revokes its API keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from sqlalchemy import func, select

from authward import define_auth, define_config
from authward.config import Config
from authward.errors import ConfigError, TokenError
from authward.identity.org_ports import OrgStorePort
from authward.identity.orgs import (
    MemberRole,
    OrganizationConflict,
    OrganizationError,
    OrganizationNotFound,
    Organizations,
)
from authward.runtime import Authward
from authward.store.orgs import KeyRevoker, OrgStore
from authward.store.schema import memberships
from tests.conftest import SettingsFactory

ROLES = {
    "admin": ["org:reports:read", "org:reports:delete", "org:members:manage"],
    "member": ["org:reports:read"],
    "viewer": [],
}


def org_config(roles: dict[str, list[str]] | None = None) -> Config:
    auth = define_auth("org-auth", organization_roles=roles or ROLES)
    return define_config(auth=auth)


@pytest.fixture
async def aw(database_url: str, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    runtime = await Authward.open(org_config(), settings_for(database_url), migrate=True)
    yield runtime
    await runtime.close()


async def test_create_get_list_delete(aw: Authward) -> None:
    acme = await aw.organizations.create("acme", "Acme Inc.")
    assert acme.id.startswith("org_")
    assert len(acme.id) == len("org_") + 22
    assert (acme.slug, acme.name) == ("acme", "Acme Inc.")
    globex = await aw.organizations.create("globex-2", "Globex")

    assert await aw.organizations.get(acme.id) == acme
    assert await aw.organizations.get("acme") == acme
    assert await aw.organizations.get("nope") is None
    assert await aw.organizations.get("org_nope") is None
    assert [o.slug for o in await aw.organizations.list()] == ["acme", "globex-2"]

    await aw.organizations.add_member("acme", "user-1", "admin")
    assert await aw.organizations.delete(acme.id) is True
    assert await aw.organizations.delete(acme.id) is False
    assert await aw.organizations.list() == [globex]
    assert await aw.organizations.memberships_of("user-1") == []
    async with aw.engine.connect() as conn:
        left = (await conn.execute(select(func.count()).select_from(memberships))).scalar_one()
    assert left == 0


async def test_slugs_are_unique_and_well_formed(aw: Authward) -> None:
    await aw.organizations.create("acme", "Acme")
    with pytest.raises(OrganizationConflict, match="slug 'acme' already exists"):
        await aw.organizations.create("acme", "Acme again")
    for bad in ("Acme", "ac_me", "-acme", "acme-", "", "a" * 65, "ac me"):
        with pytest.raises(ConfigError, match="is not a slug"):
            await aw.organizations.create(bad, "x")
    with pytest.raises(ConfigError, match="name"):
        await aw.organizations.create("fine", "  ")


async def test_members_roles_and_permissions_from_the_config(aw: Authward) -> None:
    acme = await aw.organizations.create("acme", "Acme")
    other = await aw.organizations.create("other", "Other")
    added = await aw.organizations.add_member(acme.id, "user-1", "admin")
    assert added.permissions == ("org:reports:read", "org:reports:delete", "org:members:manage")
    await aw.organizations.add_member("acme", "user-2", "member")
    await aw.organizations.add_member("other", "user-1", "viewer")

    assert await aw.organizations.member("acme", "user-1") == MemberRole(
        "admin", ("org:reports:read", "org:reports:delete", "org:members:manage")
    )
    assert await aw.organizations.member(acme.id, "user-2") == MemberRole(
        "member", ("org:reports:read",)
    )
    assert await aw.organizations.member("acme", "user-3") is None
    assert await aw.organizations.member("no-such-org", "user-1") is None

    members = await aw.organizations.members("acme")
    assert [(m.user_id, m.role) for m in members] == [("user-1", "admin"), ("user-2", "member")]
    mine = await aw.organizations.memberships_of("user-1")
    assert [(m.org_id, m.org_slug, m.role, m.permissions) for m in mine] == [
        (acme.id, "acme", "admin", ROLES_T["admin"]),
        (other.id, "other", "viewer", ()),
    ]

    with pytest.raises(OrganizationConflict, match="already a member"):
        await aw.organizations.add_member("acme", "user-1", "member")

    changed = await aw.organizations.set_role("acme", "user-2", "admin")
    assert changed.role == "admin"
    assert changed.permissions == ROLES_T["admin"]
    assert (await aw.organizations.member("acme", "user-2")) == MemberRole(
        "admin", ROLES_T["admin"]
    )
    with pytest.raises(OrganizationNotFound, match="not a member"):
        await aw.organizations.set_role("acme", "user-9", "admin")

    assert await aw.organizations.remove_member("acme", "user-2") is True
    assert await aw.organizations.remove_member("acme", "user-2") is False
    assert await aw.organizations.member("acme", "user-2") is None
    with pytest.raises(OrganizationNotFound, match="no organization 'nope'"):
        await aw.organizations.remove_member("nope", "user-1")
    with pytest.raises(OrganizationError, match="no organization"):
        await aw.organizations.add_member("nope", "user-1", "admin")


ROLES_T = {role: tuple(perms) for role, perms in ROLES.items()}


async def test_unknown_roles_are_refused_naming_the_known_ones(aw: Authward) -> None:
    await aw.organizations.create("acme", "Acme")
    with pytest.raises(ConfigError) as err:
        await aw.organizations.add_member("acme", "user-1", "owner")
    message = str(err.value)
    assert "unknown organization role 'owner'" in message
    assert "known: admin, member, viewer" in message
    await aw.organizations.add_member("acme", "user-1", "member")
    with pytest.raises(ConfigError, match="unknown organization role 'superuser'"):
        await aw.organizations.set_role("acme", "user-1", "superuser")
    with pytest.raises(ConfigError, match="user_id"):
        await aw.organizations.add_member("acme", " padded ", "member")


async def test_a_role_the_config_dropped_keeps_its_members_without_permissions(
    database_url: str, settings_for: SettingsFactory
) -> None:
    settings = settings_for(database_url)
    first = await Authward.open(org_config(), settings, migrate=True)
    try:
        await first.organizations.create("acme", "Acme")
        await first.organizations.add_member("acme", "user-1", "viewer")
        await first.organizations.add_member("acme", "user-2", "member")
    finally:
        await first.close()
    changed = {"admin": ["org:reports:delete"], "member": ["org:reports:read", "org:tools:run"]}
    second = await Authward.open(org_config(changed), settings, migrate=True)
    try:
        # Permissions always come from the config in force, never from the store.
        assert await second.organizations.member("acme", "user-2") == MemberRole(
            "member", ("org:reports:read", "org:tools:run")
        )
        assert await second.organizations.member("acme", "user-1") == MemberRole("viewer", ())
    finally:
        await second.close()


async def test_every_change_is_audited(aw: Authward) -> None:
    acme = await aw.organizations.create("acme", "Acme", actor="tester")
    await aw.organizations.add_member("acme", "user-1", "member", actor="tester")
    await aw.organizations.set_role("acme", "user-1", "admin", actor="tester")
    await aw.organizations.set_role("acme", "user-1", "admin", actor="tester")  # no change
    await aw.organizations.remove_member("acme", "user-1", actor="tester")
    await aw.organizations.delete("acme", actor="tester")
    events = [e for e in reversed(await aw.audit.recent()) if e.kind.startswith("org.")]
    assert [e.kind for e in events] == [
        "org.created",
        "org.member_added",
        "org.member_role_changed",
        "org.member_removed",
        "org.deleted",
    ]
    assert all(e.actor == "tester" and e.detail["org_id"] == acme.id for e in events)
    assert events[1].subject == "user-1"
    assert events[1].detail["role"] == "member"
    assert events[2].detail["from"] == "member"
    assert events[2].detail["to"] == "admin"


async def refusal(aw: Authward, secret: str) -> str:
    with pytest.raises(TokenError) as err:
        await aw.api_keys.verify(secret)
    return err.value.reason


async def test_deleting_an_organization_revokes_its_api_keys_at_once(
    aw: Authward, database_url: str, settings_for: SettingsFactory
) -> None:
    acme = await aw.organizations.create("acme", "Acme")
    await aw.organizations.create("globex", "Globex")
    first, k1 = await aw.api_keys.create("ci", org_id=acme.id)
    second, k2 = await aw.api_keys.create("deploys", org_id="acme")
    _, k3 = await aw.api_keys.create("old", org_id=acme.id)
    await aw.api_keys.revoke(k3.key_id)
    theirs, _ = await aw.api_keys.create("theirs", org_id="globex")
    mine, _ = await aw.api_keys.create("mine", user_id="user-1")
    other = await Authward.open(org_config(), settings_for(database_url), migrate=False)
    try:
        for runtime in (aw, other):
            for secret in (first, second, theirs, mine):
                await runtime.api_keys.verify(secret)  # cached in both processes

        assert await aw.organizations.delete("acme", actor="tester") is True

        # This process refuses them at once, with no cache refresh in between.
        assert await refusal(aw, first) == "api-key-revoked"
        assert await refusal(aw, second) == "api-key-revoked"
        # Another process does within its refresh interval, or at once when told to look again.
        other.api_keys.invalidate()
        assert await refusal(other, first) == "api-key-revoked"
        for runtime in (aw, other):
            await runtime.api_keys.verify(theirs)
            await runtime.api_keys.verify(mine)
    finally:
        await other.close()

    statuses = {k.name: k.status() for k in await aw.api_keys.list(include_revoked=True)}
    assert statuses == {
        "ci": "revoked",
        "deploys": "revoked",
        "old": "revoked",
        "theirs": "active",
        "mine": "active",
    }
    # In the same transaction as the deletion: one event per key it revoked (not the one that
    # was revoked already), then org.deleted counting them.
    events = list(reversed(await aw.audit.recent(limit=3)))
    assert [e.kind for e in events] == ["apikey.revoked", "apikey.revoked", "org.deleted"]
    assert [e.detail["key_id"] for e in events[:2]] == [str(k1.key_id), str(k2.key_id)]
    assert all(e.detail["reason"] == "org.deleted" for e in events[:2])
    assert all(e.actor == "tester" and e.subject == acme.id for e in events)
    assert events[2].detail["api_keys_revoked"] == 2
    assert first[3:-6] not in repr(events)

    # No key can be made for the organization any more.
    for name in (acme.id, "acme"):
        with pytest.raises(ConfigError, match=f"org_id: no organization '{name}'"):
            await aw.api_keys.create("late", org_id=name)


class FailingAtTheEnd:
    """The real store, but its deletion fails as it records ``org.deleted``: after the keys were
    revoked in the transaction (and refused in this process)."""

    def __init__(self, store: OrgStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def delete(self, org: str, revoke_keys: KeyRevoker, event: Any) -> Any:
        def failing(*args: Any) -> Any:
            raise RuntimeError("the store went away")

        return await self._store.delete(org, revoke_keys, failing)


async def test_a_deletion_that_rolls_back_keeps_the_keys(aw: Authward) -> None:
    acme = await aw.organizations.create("acme", "Acme")
    secret, _ = await aw.api_keys.create("ci", org_id=acme.id)
    await aw.api_keys.verify(secret)
    failing = Organizations(
        cast(OrgStorePort, FailingAtTheEnd(OrgStore(aw.engine, aw.audit))),
        aw.organizations.roles,
        api_keys=aw.api_keys,
    )
    with pytest.raises(RuntimeError):
        await failing.delete("acme")

    assert await aw.organizations.get("acme") == acme
    assert (await aw.api_keys.verify(secret)).org_id == acme.id
    assert [k.status() for k in await aw.api_keys.list(include_revoked=True)] == ["active"]
