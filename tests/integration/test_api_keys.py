"""API keys on SQLite and PostgreSQL: format, ownership (an organization must exist),
verification, revocation across processes, expiry, digest-only storage, batched last_used_at and
audit events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import event, select

from authward.config import Config
from authward.errors import ConfigError, TokenError
from authward.identity.api_keys import ApiKeyAuth, ApiKeys, generate_api_key, is_well_formed
from authward.principal import Principal
from authward.runtime import Authward
from authward.store.api_keys import ApiKeyStore
from authward.store.schema import api_keys, audit_events
from tests.conftest import SettingsFactory

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@contextmanager
def statements(aw: Authward) -> Iterator[list[str]]:
    """Every SQL statement the runtime's engine runs inside the block."""
    seen: list[str] = []

    def note(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(aw.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(aw.engine.sync_engine, "before_cursor_execute", note)


async def refused(aw: Authward, secret: str) -> str:
    with pytest.raises(TokenError) as err:
        await aw.api_keys.verify(secret)
    assert "\n" not in str(err.value)
    assert len(secret) < 8 or secret not in str(err.value)
    return err.value.reason


async def row_of(aw: Authward, key_id: UUID) -> Any:
    async with aw.engine.connect() as conn:
        return (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).one()


async def test_create_and_verify_roundtrip_and_principal(runtime: Authward) -> None:
    secret, created = await runtime.api_keys.create(
        "ci deploys", user_id="user-1", scopes=["repo:read", "deploy", "repo:read"]
    )
    assert secret.startswith("ak_")
    assert len(secret) == 52
    assert is_well_formed(secret)
    assert created.scopes == ("repo:read", "deploy")

    auth = await runtime.api_keys.verify(secret)
    assert auth == created
    assert auth == ApiKeyAuth(
        key_id=created.key_id,
        name="ci deploys",
        user_id="user-1",
        org_id=None,
        scopes=("repo:read", "deploy"),
        expires_at=None,
    )
    assert auth.to_principal() == Principal(
        authenticator="authward",
        principal_type="machine",
        principal_id=str(created.key_id),
        subject="user-1",
        attributes={"tokenType": "api_key", "scopes": ("repo:read", "deploy"), "userId": "user-1"},
    )

    assert auth.to_principal() is auth.to_principal()  # built once per cached key

    org = await runtime.organizations.create("org-9", "Org 9")
    org_secret, org_key = await runtime.api_keys.create("org bot", org_id=org.id)
    org_principal = (await runtime.api_keys.verify(org_secret)).to_principal()
    assert org_principal.subject == org.id
    assert dict(org_principal.attributes) == {
        "tokenType": "api_key",
        "scopes": (),
        "orgId": org.id,
    }
    assert org_key.key_id != created.key_id
    assert org_secret != secret

    listed = await runtime.api_keys.list()
    assert [k.name for k in listed] == ["ci deploys", "org bot"]
    assert [k.hint for k in listed] == [secret[-4:], org_secret[-4:]]
    assert [k.name for k in await runtime.api_keys.list(org_id=org.id)] == ["org bot"]
    assert [k.name for k in await runtime.api_keys.list(user_id="user-1")] == ["ci deploys"]


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        ({}, "neither"),
        ({"user_id": "u", "org_id": "o"}, "both"),
        ({"user_id": ""}, "user_id: must be a non-empty id"),
        ({"org_id": " o"}, "org_id: must be a non-empty id"),
    ],
)
async def test_owner_is_a_user_or_an_org_never_both_or_neither(
    runtime: Authward, owner: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        await runtime.api_keys.create("k", **owner)
    assert await runtime.api_keys.list(include_revoked=True) == []


async def test_an_org_key_needs_an_existing_organization(runtime: Authward) -> None:
    for missing in ("org_0000000000000000000000", "acme", "org-1"):
        with pytest.raises(ConfigError) as err:
            await runtime.api_keys.create("k", org_id=missing, scopes=["x"])
        assert str(err.value).startswith(f"org_id: no organization {missing!r}")
        assert "\n" not in str(err.value)
    # Refused before anything was kept: no key, no audit event.
    assert await runtime.api_keys.list(include_revoked=True) == []
    assert not [e for e in await runtime.audit.recent() if e.kind.startswith("apikey.")]

    acme = await runtime.organizations.create("acme", "Acme")
    _, key = await runtime.api_keys.create("by id", org_id=acme.id)
    assert key.org_id == acme.id
    # The slug names the organization too; the key records its id.
    by_slug, slugged = await runtime.api_keys.create("by slug", org_id="acme")
    assert slugged.org_id == acme.id
    assert (await runtime.api_keys.verify(by_slug)).to_principal().attributes["orgId"] == acme.id
    assert (await row_of(runtime, slugged.key_id)).org_id == acme.id
    for name in (acme.id, "acme"):
        assert [k.name for k in await runtime.api_keys.list(org_id=name)] == ["by id", "by slug"]
    assert await runtime.api_keys.list(org_id="other") == []

    # User-owned keys need nothing to exist: a user is any id of yours.
    _, user_key = await runtime.api_keys.create("mine", user_id="acme")
    assert (user_key.user_id, user_key.org_id) == ("acme", None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scopes": ["has space"]}, "'has space' is not a scope"),
        ({"scopes": [""]}, "'' is not a scope"),
        ({"scopes": "repo:read"}, "not one string"),
        ({"name": " "}, "name: must be 1 to 200"),
        ({"name": "two\nlines"}, "name: must be 1 to 200"),
        ({"expires_at": datetime.now(UTC) - timedelta(seconds=1)}, "must be in the future"),
        ({"expires_at": datetime.now() + timedelta(days=1)}, "must be timezone-aware"),
    ],
)
async def test_bad_scopes_names_and_expiry_are_refused(
    runtime: Authward, kwargs: dict[str, Any], message: str
) -> None:
    args = {"name": "k", "user_id": "u", **kwargs}
    with pytest.raises(ConfigError, match=message):
        await runtime.api_keys.create(**args)


def _flip(secret: str, index: int) -> str:
    char = secret[index]
    other = _BASE62[(_BASE62.index(char) + 1) % 62]
    return secret[:index] + other + secret[index + 1 :]


def _swap(secret: str) -> str:
    i = next(i for i in range(3, len(secret) - 1) if secret[i] != secret[i + 1])
    return secret[:i] + secret[i + 1] + secret[i] + secret[i + 2 :]


async def test_malformed_keys_are_refused_without_a_query(runtime: Authward) -> None:
    secret, _ = await runtime.api_keys.create("k", user_id="u")
    candidates = [
        _flip(secret, 10),  # a typo in the random part
        _flip(secret, len(secret) - 1),  # a typo in the checksum
        _swap(secret),  # two neighbouring characters swapped
        secret[:-1],
        secret + "0",
        "ak_" + secret[3:].lower(),
        "AK_" + secret[3:],
        secret[:20] + "é" + secret[21:],
        secret[:20] + "-" + secret[21:],
        "",
        "ak_",
        "Bearer " + secret,
    ]
    with statements(runtime) as seen:
        for candidate in candidates:
            assert candidate != secret
            assert await refused(runtime, candidate) == "api-key-malformed", candidate
    assert seen == []


async def test_unknown_well_formed_key_is_invalid(runtime: Authward) -> None:
    await runtime.api_keys.create("k", user_id="u")
    assert await refused(runtime, generate_api_key()) == "api-key-invalid"


async def test_hot_key_is_verified_without_io(runtime: Authward) -> None:
    secret, _ = await runtime.api_keys.create("k", user_id="u")
    await runtime.api_keys.verify(secret)
    with statements(runtime) as seen:
        for _ in range(100):
            await runtime.api_keys.verify(secret)
    assert seen == []


async def test_revocation_is_immediate_here_and_within_the_refresh_elsewhere(
    runtime: Authward, settings_for: SettingsFactory, example_config: Config
) -> None:
    url = runtime.settings.database_url
    org = await runtime.organizations.create("org-1", "Org 1")
    secret, key = await runtime.api_keys.create("k", org_id=org.id)
    other = await Authward.open(example_config, settings_for(url), migrate=False)
    quick = await Authward.open(
        example_config, settings_for(url, cache_refresh_seconds=0.2), migrate=False
    )
    try:
        for aw in (runtime, other, quick):
            assert (await aw.api_keys.verify(secret)).key_id == key.key_id

        assert await runtime.api_keys.revoke(key.key_id) is True
        assert await refused(runtime, secret) == "api-key-revoked"
        assert await runtime.api_keys.revoke(key.key_id) is False

        # Another process keeps its cached answer until its refresh interval has passed ...
        assert (await other.api_keys.verify(secret)).key_id == key.key_id
        # ... or until it is told to look again.
        other.api_keys.invalidate()
        assert await refused(other, secret) == "api-key-revoked"

        await asyncio.sleep(0.25)
        assert await refused(quick, secret) == "api-key-revoked"
    finally:
        await other.close()
        await quick.close()

    listed = await runtime.api_keys.list()
    assert listed == []
    [info] = await runtime.api_keys.list(include_revoked=True)
    assert info.status() == "revoked"
    assert info.revoked_at is not None


async def test_a_hot_key_is_read_again_in_the_background_past_half_the_interval(
    runtime: Authward,
) -> None:
    """A revocation by another process reaches a busy key without any verification waiting for
    the store: past half the interval the key is answered from memory and read again in the
    background; what that read brings is the answer from then on (decision 044)."""
    now = [100.0]
    keys = ApiKeys(
        ApiKeyStore(runtime.engine, runtime.audit), refresh_seconds=2.0, clock=lambda: now[0]
    )
    try:
        secret, key = await runtime.api_keys.create("k", user_id="u")
        await keys.verify(secret)
        assert await runtime.api_keys.revoke(key.key_id) is True  # another process's doing
        now[0] += 0.9
        with statements(runtime) as seen:
            assert (await keys.verify(secret)).key_id == key.key_id
        assert seen == []  # younger than half the interval: nothing read
        now[0] += 0.2
        with statements(runtime) as seen:
            assert (await keys.verify(secret)).key_id == key.key_id  # not waited for ...
        assert seen == []

        async def answer() -> str:
            try:
                await keys.verify(secret)
            except TokenError as exc:
                return exc.reason
            return "accepted"

        for _ in range(200):  # ... read in the background meanwhile, the clock standing still
            if (reason := await answer()) != "accepted":
                break
            await asyncio.sleep(0.01)
        assert reason == "api-key-revoked"
    finally:
        await keys.close()


async def test_revoke_takes_a_string_id_and_refuses_a_bad_one(runtime: Authward) -> None:
    secret, key = await runtime.api_keys.create("k", user_id="u")
    assert await runtime.api_keys.revoke(str(key.key_id)) is True
    assert await refused(runtime, secret) == "api-key-revoked"
    assert await runtime.api_keys.revoke(UUID(int=1)) is False
    with pytest.raises(ConfigError, match="not an API key id"):
        await runtime.api_keys.revoke("nope")


async def test_expired_key_is_refused_cached_or_not(runtime: Authward) -> None:
    secret, key = await runtime.api_keys.create(
        "short", user_id="u", expires_at=datetime.now(UTC) + timedelta(seconds=0.5)
    )
    assert key.expires_at is not None
    assert (await runtime.api_keys.verify(secret)).expires_at == key.expires_at
    await asyncio.sleep(0.6)
    assert await refused(runtime, secret) == "api-key-expired"  # from the cache
    runtime.api_keys.invalidate()
    assert await refused(runtime, secret) == "api-key-expired"  # from the store
    [info] = await runtime.api_keys.list()
    assert info.status() == "expired"


async def test_only_the_digest_is_stored(runtime: Authward) -> None:
    secret, key = await runtime.api_keys.create("k", user_id="u", scopes=["a"])
    await runtime.api_keys.verify(secret)
    await runtime.api_keys.revoke(key.key_id)
    body = secret[3:-6]
    async with runtime.engine.connect() as conn:
        dumped = repr((await conn.execute(select(api_keys))).all())
        dumped += repr((await conn.execute(select(audit_events))).all())
    assert body not in dumped
    assert secret[3:20] not in dumped
    row = await row_of(runtime, key.key_id)
    assert len(row.digest) == 64
    assert row.hint == secret[-4:]


async def test_last_used_at_is_written_in_batches_not_per_verification(
    runtime: Authward,
) -> None:
    secret, key = await runtime.api_keys.create("k", user_id="u")
    await runtime.api_keys.verify(secret)  # reads the store, writes nothing yet
    with statements(runtime) as seen:
        for _ in range(50):
            await runtime.api_keys.verify(secret)
    assert seen == []
    assert (await row_of(runtime, key.key_id)).last_used_at is None

    before = datetime.now(UTC)
    await runtime.api_keys.verify(secret)
    assert await runtime.api_keys.flush() == 1
    first = (await row_of(runtime, key.key_id)).last_used_at
    assert first is not None
    assert before - timedelta(seconds=1) <= first <= datetime.now(UTC)

    for _ in range(10):
        await runtime.api_keys.verify(secret)
    assert (await row_of(runtime, key.key_id)).last_used_at == first
    assert await runtime.api_keys.flush() == 1
    assert await runtime.api_keys.flush() == 0
    later = (await row_of(runtime, key.key_id)).last_used_at
    assert later is not None
    assert later > first
    [info] = await runtime.api_keys.list()
    assert info.last_used_at == later


async def test_uses_are_flushed_when_the_runtime_closes(
    runtime: Authward, settings_for: SettingsFactory, example_config: Config
) -> None:
    secret, key = await runtime.api_keys.create("k", user_id="u")
    other = await Authward.open(
        example_config, settings_for(runtime.settings.database_url), migrate=False
    )
    await other.api_keys.verify(secret)
    assert (await row_of(runtime, key.key_id)).last_used_at is None
    await other.close()
    assert (await row_of(runtime, key.key_id)).last_used_at is not None


async def test_stale_entry_is_reread_and_flushes_pending_uses(
    runtime: Authward, settings_for: SettingsFactory, example_config: Config
) -> None:
    """A hot key goes back to the store once per refresh interval; that read also writes the
    uses recorded meanwhile, so last_used_at stays within about one interval of the truth."""
    quick = await Authward.open(
        example_config,
        settings_for(runtime.settings.database_url, cache_refresh_seconds=0.2),
        migrate=False,
    )
    try:
        secret, key = await quick.api_keys.create("k", user_id="u")
        await quick.api_keys.verify(secret)
        await quick.api_keys.verify(secret)
        assert (await row_of(runtime, key.key_id)).last_used_at is None
        await asyncio.sleep(0.25)
        with statements(quick) as seen:
            await quick.api_keys.verify(secret)
        assert len([s for s in seen if s.lstrip().upper().startswith("UPDATE")]) == 1
        assert (await row_of(runtime, key.key_id)).last_used_at is not None
    finally:
        await quick.close()


async def test_audit_events_without_the_secret(runtime: Authward) -> None:
    org = await runtime.organizations.create("org-1", "Org 1")
    secret, key = await runtime.api_keys.create("k", org_id=org.id, scopes=["x"], actor="cli")
    await runtime.api_keys.revoke(key.key_id, actor="admin@example.com")
    revoked, created = await runtime.audit.recent(limit=2)
    assert created.kind == "apikey.created"
    assert created.actor == "cli"
    assert created.subject == org.id
    assert created.detail == {
        "key_id": str(key.key_id),
        "name": "k",
        "hint": secret[-4:],
        "owner": "org",
        "scopes": ["x"],
        "expires_at": None,
    }
    assert revoked.kind == "apikey.revoked"
    assert revoked.actor == "admin@example.com"
    assert revoked.subject == org.id
    assert revoked.detail == {"key_id": str(key.key_id), "name": "k", "hint": secret[-4:]}
    assert secret[3:-6] not in repr((created, revoked))


async def test_the_cache_is_bounded(runtime: Authward) -> None:
    small = ApiKeys(
        ApiKeyStore(runtime.engine, runtime.audit),
        refresh_seconds=runtime.settings.cache_refresh_seconds,
        max_cached=2,
    )
    secrets_ = [(await runtime.api_keys.create(f"k{i}", user_id="u"))[0] for i in range(3)]
    for s in secrets_:
        await small.verify(s)
    with statements(runtime) as seen:
        await small.verify(secrets_[2])
        await small.verify(secrets_[1])
    assert seen == []
    with statements(runtime) as seen:
        await small.verify(secrets_[0])  # evicted: read again
    assert len(seen) >= 1
