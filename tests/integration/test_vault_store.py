"""The connected-accounts vault's store (store/vault.py) against the port the vault declares
(connections/ports.py), on SQLite and PostgreSQL: the store holds only what the vault sealed and
hands it back byte for byte; one connection per (provider, kind, account); the refresh lease; a
write that finds the row changed writes nothing, audit event included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from authward.connections.client import TokenSet
from authward.connections.ports import VaultStorePort
from authward.connections.values import open_token, sealed_aad
from authward.connections.vault import ConnectionVault
from authward.errors import SettingsError
from authward.runtime import Authward
from authward.store.audit import AuditEvent
from authward.store.vault import VaultStore
from tests.conftest import SettingsFactory
from tests.integration.test_connections import make_config

ACCESS = "acme-access-token-0123456789"
REFRESH = "acme-refresh-token-0123456789"


@pytest.fixture
async def aw(database_url: str, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    runtime = await Authward.open(
        make_config("https://acme.test"), settings_for(database_url), migrate=True
    )
    yield runtime
    await runtime.close()


def store_of(aw: Authward) -> VaultStorePort:
    return VaultStore(aw.engine, aw.audit)


def vault_on(aw: Authward, store: VaultStorePort) -> ConnectionVault:
    return ConnectionVault(
        store,
        aw.keys_box,
        providers=aw.config.auth.connections,
        id_provider=None,
        cache_seconds=2.0,
    )


def row(connection_id: str, account_id: str, now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": connection_id,
        "provider": "oauth_acme",
        "kind": "account",
        "account_id": account_id,
        "external_id": None,
        "label": None,
        "scopes": "read",
        "token_type": "Bearer",
        "access_token": b"\x01sealed-access-" + connection_id.encode(),
        "refresh_token": b"\x01sealed-refresh-" + connection_id.encode(),
        "expires_at": now + timedelta(hours=1),
        "status": "active",
        "broken_reason": None,
        "refresh_owner": None,
        "refresh_until": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        **extra,
    }


def event(kind: str, now: datetime) -> AuditEvent:
    return AuditEvent(kind, now, actor="test")


async def kinds(aw: Authward) -> list[str]:
    return [e.kind for e in reversed(await aw.audit.recent(kind=None))]


async def test_the_store_holds_ciphertext_that_the_vault_opens(aw: Authward) -> None:
    store = store_of(aw)
    vault = vault_on(aw, store)
    tokens = TokenSet(ACCESS, REFRESH, "Bearer", datetime.now(UTC) + timedelta(hours=1), None)
    info = await vault.store("user_1", "oauth_acme", tokens)
    held = await store.find("oauth_acme", "account", "user_1")
    assert held is not None
    assert held.id == info.id
    for column, plain in (("access_token", ACCESS), ("refresh_token", REFRESH)):
        blob = bytes(getattr(held, column))
        assert REFRESH.encode() not in blob
        assert ACCESS.encode() not in blob
        assert open_token(aw.keys_box, held, column) == plain
    # Bound to its row and column: the same blob does not open as another's.
    with pytest.raises(SettingsError):
        aw.keys_box.open(bytes(held.access_token), sealed_aad(info.id, "refresh_token"))
    with pytest.raises(SettingsError):
        aw.keys_box.open(bytes(held.access_token), sealed_aad("conn_other", "access_token"))
    [token] = await vault.get_oauth_access_token("user_1", "oauth_acme")
    assert token.token == ACCESS
    assert token.scopes == ("read", "write")  # the provider's, as none came with the tokens
    assert [c.id for c in await vault.list("user_1")] == [info.id]
    [connected] = await aw.audit.recent(kind="connection.connected")
    assert (connected.subject, connected.detail["connection_id"]) == ("user_1", info.id)


async def test_rows_round_trip_and_one_connection_per_owner(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    first = await store.insert(row("conn_1", "user_1", now), event("connected", now))
    assert first is not None
    assert bytes(first.access_token) == b"\x01sealed-access-conn_1"
    assert first.version == 1
    # The same provider, kind and account again: nothing written, audit event included.
    before = await kinds(aw)
    assert await store.insert(row("conn_2", "user_1", now), event("connected", now)) is None
    assert await store.get("conn_2") is None
    assert await kinds(aw) == before
    await store.insert(row("conn_3", "user_0", now), event("connected", now))
    await store.insert(row("conn_4", "", now, kind="developer"), event("connected", now))
    assert [r.id for r in await store.list(None)] == ["conn_4", "conn_3", "conn_1"]
    assert [r.id for r in await store.list("user_1")] == ["conn_1"]

    replaced = await store.replace(
        "conn_1", {"access_token": b"\x01new", "updated_at": now}, event("replaced", now)
    )
    assert replaced is not None
    assert (replaced.version, bytes(replaced.access_token)) == (2, b"\x01new")
    assert await store.replace("nope", {"updated_at": now}, event("replaced", now)) is None
    assert (await kinds(aw)).count("replaced") == 1

    assert await store.delete("conn_1", event("removed", now))
    assert not await store.delete("conn_1", event("removed", now))
    assert await store.find("oauth_acme", "account", "user_1") is None
    assert (await kinds(aw)).count("removed") == 1


async def test_one_refresher_at_a_time_and_its_save_needs_the_lease(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    await store.insert(row("conn_1", "user_1", now), event("connected", now))
    until = now + timedelta(seconds=30)
    assert not await store.take_lease("conn_1", 7, "one", now, until)  # a stale version
    assert await store.take_lease("conn_1", 1, "one", now, until)
    assert not await store.take_lease("conn_1", 1, "two", now, until)  # one's lease is live
    await store.release("conn_1", "two")  # not two's to give back
    assert not await store.take_lease("conn_1", 1, "two", now, until)
    # One's lease ran out: two takes it over, and one's save then writes nothing.
    later = until + timedelta(seconds=1)
    assert await store.take_lease("conn_1", 1, "two", later, later + timedelta(seconds=30))
    values = {"access_token": b"\x01refreshed", "updated_at": later}
    assert await store.save_refreshed("conn_1", "one", values, event("refreshed", now)) is None
    assert "refreshed" not in await kinds(aw)
    saved = await store.save_refreshed("conn_1", "two", values, event("refreshed", now))
    assert saved is not None
    assert (saved.version, saved.refresh_owner, saved.refresh_until) == (2, None, None)
    assert bytes(saved.access_token) == b"\x01refreshed"
    assert bytes(saved.refresh_token) == b"\x01sealed-refresh-conn_1"  # left as it was
    assert await store.take_lease("conn_1", 2, "one", now, until)
    await store.release("conn_1", "one")
    held = await store.get("conn_1")
    assert held is not None
    assert (held.refresh_owner, held.version) == (None, 2)


async def test_a_broken_connection_releases_its_lease_and_takes_no_other(aw: Authward) -> None:
    store, now = store_of(aw), datetime.now(UTC)
    await store.insert(row("conn_1", "user_1", now), event("connected", now))
    assert await store.take_lease("conn_1", 1, "one", now, now + timedelta(seconds=30))
    heard: list[Any] = []

    def broken(found: Any) -> AuditEvent:
        heard.append(found.account_id)
        return event("broken", now)

    assert await store.set_broken("conn_1", "invalid_grant", now, broken)
    assert not await store.set_broken("nope", "invalid_grant", now, broken)
    assert heard == ["user_1"]
    held = await store.get("conn_1")
    assert held is not None
    assert (held.status, held.broken_reason, held.version) == ("broken", "invalid_grant", 2)
    assert (held.refresh_owner, held.refresh_until) == (None, None)
    assert not await store.take_lease("conn_1", 2, "two", now, now + timedelta(seconds=30))
    assert (await kinds(aw)).count("broken") == 1
