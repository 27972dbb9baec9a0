"""The M2M aggregate's store (store/m2m.py) against the ports the machines and M2M tokens services
declare, on SQLite and PostgreSQL: what each method reads and writes, that a taken name or an
ended machine or token writes nothing, and that the service hears of a machine being revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from authward.identity.m2m_ports import M2MTokenStorePort, MachineStorePort
from authward.runtime import Authward
from authward.store.audit import AuditEvent
from authward.store.m2m import M2MStore


def machine_store(aw: Authward) -> MachineStorePort:
    return M2MStore(aw.engine, aw.audit)


def token_store(aw: Authward) -> M2MTokenStorePort:
    return M2MStore(aw.engine, aw.audit)


def machine(name: str, now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"mch_{name}",
        "name": name,
        "secret_digest": f"digest-{name}",
        "scopes": ["a:read"],
        "created_at": now,
        **extra,
    }


def token(subject: str, now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid4()),
        "digest": f"digest-{uuid4().hex}",
        "hint": "abcd",
        "subject": subject,
        "audience": ["mch_billing"],
        "scopes": ["a:read"],
        "created_at": now,
        "expires_at": None,
        **extra,
    }


def event(kind: str, now: datetime, subject: str = "s") -> AuditEvent:
    return AuditEvent(kind, now, subject=subject)


async def kinds(aw: Authward) -> list[str]:
    """Audit events of machines and tokens, oldest first."""
    recent = reversed(await aw.audit.recent())
    return [e.kind for e in recent if e.kind.startswith(("machine.", "m2m.", "dup"))]


async def test_machines_are_read_back_by_id_name_and_digest(runtime: Authward) -> None:
    store, now = machine_store(runtime), datetime.now(UTC)
    assert await store.insert_machine(machine("billing", now), event("machine.created", now))
    later = now + timedelta(seconds=1)
    assert await store.insert_machine(machine("search", later), event("machine.created", later))
    # A taken name writes neither the row nor its event.
    assert not await store.insert_machine(
        machine("billing", later, id="mch_other", secret_digest="other"), event("dup", later)
    )
    assert await kinds(runtime) == ["machine.created", "machine.created"]

    by_id = await store.machine("id", "mch_billing")
    by_name = await store.machine("name", "billing")
    by_digest = await store.machine_by_digest("digest-billing")
    assert by_id is not None
    assert by_name is not None
    assert by_digest is not None
    assert by_id.id == by_name.id == by_digest.id == "mch_billing"
    assert list(by_id.scopes) == ["a:read"]
    assert by_id.revoked_at is None
    assert await store.machine("name", "mch_billing") is None
    assert await store.machine("id", "billing") is None
    assert await store.machine_by_digest("other") is None

    assert [r.name for r in await store.list_machines(False)] == ["billing", "search"]
    found = await store.find_machines(["mch_search"], ["billing", "nowhere"])
    assert sorted(r.name for r in found) == ["billing", "search"]
    assert await store.find_machines([], ["nowhere"]) == []


async def test_a_machine_is_revoked_once_and_heard_in_this_process(
    runtime: Authward,
) -> None:
    store, now = machine_store(runtime), datetime.now(UTC)
    await store.insert_machine(machine("billing", now), event("machine.created", now))
    heard: list[str] = []

    def ending(machine_id: str) -> None:
        heard.append(machine_id)

    def revoked(machine_id: str, name: str) -> AuditEvent:
        return AuditEvent("machine.revoked", now, subject=machine_id, detail={"name": name})

    assert await store.revoke_machine("name", "billing", now, ending, revoked)
    assert heard == ["mch_billing"]
    assert not await store.revoke_machine("id", "mch_billing", now, ending, revoked)
    assert not await store.revoke_machine("name", "nowhere", now, ending, revoked)
    assert heard == ["mch_billing", "mch_billing"]  # the second was heard, then found ended
    assert await kinds(runtime) == ["machine.created", "machine.revoked"]
    [last] = await runtime.audit.recent(limit=1)
    assert last.detail == {"name": "billing"}

    assert await store.list_machines(False) == []
    [listed] = await store.list_machines(True)
    assert listed.revoked_at is not None
    [found] = await store.find_machines([], ["billing"])
    assert found.revoked_at is not None


async def test_tokens_are_listed_by_id_and_subject_with_machine_user_names(
    runtime: Authward,
) -> None:
    store, now = token_store(runtime), datetime.now(UTC)
    admin = await store.machine_user_id("admin-machine-user")
    readonly = await store.machine_user_id("readonly-machine-user")
    assert admin is not None
    assert readonly is not None
    assert await store.machine_user_id("nobody") is None

    first = token(admin, now)
    second = token(admin, now + timedelta(seconds=1), expires_at=now + timedelta(hours=1))
    third = token("gone", now + timedelta(seconds=2))
    for row in (first, second, third):
        await store.insert_token(row, event("m2m.created", now, row["subject"]))
    assert await kinds(runtime) == ["m2m.created"] * 3

    rows, names = await store.list_tokens()
    assert [r.id for r in rows] == [first["id"], second["id"], third["id"]]  # oldest first
    assert names[admin] == "admin-machine-user"
    assert names[readonly] == "readonly-machine-user"
    assert "gone" not in names
    rows, _ = await store.list_tokens(subject=admin)
    assert [r.id for r in rows] == [first["id"], second["id"]]
    rows, _ = await store.list_tokens(token_id=second["id"])
    [only] = rows
    assert only.hint == "abcd"
    assert list(only.audience) == ["mch_billing"]
    assert only.expires_at is not None
    assert (await store.list_tokens(token_id=str(uuid4())))[0] == []


async def test_a_token_is_revoked_once_and_its_event_sees_the_row(runtime: Authward) -> None:
    store, now = token_store(runtime), datetime.now(UTC)
    admin = await store.machine_user_id("admin-machine-user")
    assert admin is not None
    row = token(admin, now)
    await store.insert_token(row, event("m2m.created", now, admin))
    seen: list[tuple[str, str]] = []

    def revoked(found: Any) -> AuditEvent:
        seen.append((found.hint, found.subject))
        return AuditEvent("m2m.revoked", now, subject=found.subject)

    assert await store.revoke_token(row["id"], now, revoked)
    assert not await store.revoke_token(row["id"], now, revoked)
    assert not await store.revoke_token(str(uuid4()), now, revoked)
    assert seen == [("abcd", admin)]
    assert await kinds(runtime) == ["m2m.created", "m2m.revoked"]
    assert (await store.list_tokens(include_revoked=False))[0] == []
    [listed], _ = await store.list_tokens()
    assert listed.revoked_at is not None


async def test_a_token_is_found_by_digest_with_its_machine_user(runtime: Authward) -> None:
    store, now = token_store(runtime), datetime.now(UTC)
    admin = await store.machine_user_id("admin-machine-user")
    assert admin is not None
    known = token(admin, now)
    removed = token(str(uuid4()), now)
    not_a_uuid = token("not-a-uuid", now)
    for row in (known, removed, not_a_uuid):
        await store.insert_token(row, event("m2m.created", now))

    found = await store.token_by_digest(known["digest"])
    assert found is not None
    row, user = found
    assert (row.id, row.digest, row.subject) == (known["id"], known["digest"], admin)
    assert row.revoked_at is None
    assert user is not None
    assert user.name == "admin-machine-user"
    assert dict(user.attributes) == {"role": "ADMIN"}
    assert len(user.attribute_list) == 2
    for gone in (removed, not_a_uuid):
        found = await store.token_by_digest(gone["digest"])
        assert found is not None
        assert found[0].id == gone["id"]
        assert found[1] is None
    assert await store.token_by_digest("nope") is None
