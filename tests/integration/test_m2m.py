"""Machines and M2M tokens on SQLite and PostgreSQL: through the request chain, the audience,
the machine secret key, revocation here and in another process, expiry, malformed tokens without
a query, a removed machine user, start-up checks, digest-only storage and audit events."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward.channel import AuthMiddleware, authward_tokens
from authward.config import Config
from authward.errors import ConfigError, TokenError
from authward.identity.m2m_tokens import M2MAuth, generate_m2m_token, is_m2m_token
from authward.identity.machines import generate_machine_secret_key, is_machine_secret_key
from authward.principal import Principal
from authward.runtime import Authward
from authward.store.schema import audit_events, m2m_tokens, machines
from tests.conftest import SettingsFactory
from tests.integration.test_api_keys import _flip, _swap, statements

ADMIN_LIST = (
    UUID("550e8400-e29b-41d4-a716-446655440000"),
    UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
)


async def whoami(request: Request) -> JSONResponse:
    principal: Principal = request.state.auth
    return JSONResponse(
        {
            "authenticator": principal.authenticator,
            "principal_type": principal.principal_type,
            "principal_id": principal.principal_id,
            "subject": principal.subject,
            "attributes": {
                k: list(v) if isinstance(v, tuple) else v for k, v in principal.attributes.items()
            },
            "attribute_list": [str(u) for u in principal.attribute_list],
        }
    )


def service(aw: Authward, machine_secret_key: str) -> httpx.AsyncClient:
    """A service whose machine secret key is ``machine_secret_key``, accepting M2M tokens."""
    app = Starlette(routes=[Route("/whoami", whoami)])
    entry = authward_tokens(
        tokens=aw.verifier,
        m2m=aw.m2m_tokens,
        accepts_token=["m2m_token"],
        machine_secret_key=machine_secret_key,
    )
    transport = httpx.ASGITransport(app=AuthMiddleware(app, auth=[entry]))
    return httpx.AsyncClient(transport=transport, base_url="http://service")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refused(aw: Authward, token: str, machine_secret_key: str) -> str:
    with pytest.raises(TokenError) as err:
        await aw.m2m_tokens.verify(token, machine_secret_key)
    assert "\n" not in str(err.value)
    for secret in (token[3:-6], machine_secret_key[4:-6]):
        assert len(secret) < 8 or secret not in str(err.value)
    return err.value.reason


@pytest.fixture
async def billing(runtime: Authward) -> str:
    """The machine secret key of a registered machine named ``billing``."""
    secret, _ = await runtime.machines.create("billing", ["invoices:read", "invoices:write"])
    return secret


async def test_roundtrip_through_the_chain_with_the_machine_users_attributes(
    runtime: Authward, billing: str
) -> None:
    token, info = await runtime.m2m_tokens.create(
        "admin-machine-user", ["billing"], ["invoices:read"]
    )
    assert token.startswith("mt_")
    assert len(token) == 52
    assert is_m2m_token(token)
    assert is_machine_secret_key(billing)
    assert len(billing) == 53
    stored = await runtime.machine_users.get("admin-machine-user")
    assert stored is not None
    machine = await runtime.machines.get("billing")
    assert machine is not None
    assert info.subject == str(stored.id)
    assert info.audience == (machine.id,)
    assert info.machine_user == "admin-machine-user"

    async with service(runtime, billing) as client:
        response = await client.get("/whoami", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "authenticator": "authward",
        "principal_type": "machine",
        "principal_id": str(stored.id),
        "subject": str(stored.id),
        "attributes": {"role": "ADMIN", "tokenType": "m2m_token", "scopes": ["invoices:read"]},
        "attribute_list": [str(u) for u in ADMIN_LIST],
    }

    auth = await runtime.m2m_tokens.verify(token, billing)
    assert isinstance(auth, M2MAuth)
    assert auth.token_type == "m2m_token"
    assert auth.subject == str(stored.id)
    assert auth.machine_user == "admin-machine-user"
    assert auth.token_id == info.id
    assert auth.machine_id == machine.id
    assert auth.scopes == ("invoices:read",)
    assert auth.expires_at is None
    assert auth.to_principal() == Principal(
        authenticator="authward",
        principal_type="machine",
        principal_id=str(stored.id),
        subject=str(stored.id),
        attributes={"role": "ADMIN", "tokenType": "m2m_token", "scopes": ("invoices:read",)},
        attribute_list=ADMIN_LIST,
    )
    # A cached token hands out the same auth object and the same (immutable) principal.
    assert await runtime.m2m_tokens.verify(token, billing) is auth
    assert auth.to_principal() is auth.to_principal()


async def test_the_token_is_refused_at_a_machine_outside_its_audience(
    runtime: Authward, billing: str
) -> None:
    search, _ = await runtime.machines.create("search")
    token, _ = await runtime.m2m_tokens.create("readonly-machine-user", ["billing"])
    assert (await runtime.m2m_tokens.verify(token, billing)).machine_user == (
        "readonly-machine-user"
    )
    async with service(runtime, search) as client:
        response = await client.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "message": "M2M token is not meant for this machine",
    }
    assert await refused(runtime, token, search) == "m2m-wrong-machine"
    # Still good where it belongs (a refusal elsewhere does not evict it).
    assert (await runtime.m2m_tokens.verify(token, billing)).scopes == ()

    both, info = await runtime.m2m_tokens.create("readonly-machine-user", ["billing", "search"])
    a = await runtime.m2m_tokens.verify(both, billing)
    b = await runtime.m2m_tokens.verify(both, search)
    assert a.machine_id != b.machine_id
    assert set(info.audience) == {a.machine_id, b.machine_id}
    assert a.to_principal() == b.to_principal()


async def test_a_bad_or_revoked_machine_secret_key_is_refused(
    runtime: Authward, billing: str
) -> None:
    token, _ = await runtime.m2m_tokens.create("admin-machine-user", ["billing"])
    assert await refused(runtime, token, generate_machine_secret_key()) == "machine-secret-invalid"
    assert await refused(runtime, token, _flip(billing, 10)) == "machine-secret-invalid"
    assert await refused(runtime, token, "") == "machine-secret-invalid"
    assert await refused(runtime, token, generate_m2m_token()) == "machine-secret-invalid"

    unknown_key = generate_machine_secret_key()
    async with service(runtime, unknown_key) as client:
        response = await client.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "message": "unknown machine secret key"}

    await runtime.m2m_tokens.verify(token, billing)
    assert await runtime.machines.revoke("billing") is True
    assert await runtime.machines.revoke("billing") is False
    assert await refused(runtime, token, billing) == "machine-secret-invalid"  # at once
    [info] = await runtime.machines.list(include_revoked=True)
    assert info.status() == "revoked"
    assert await runtime.machines.list() == []
    with pytest.raises(ConfigError, match="'billing' has been revoked"):
        await runtime.m2m_tokens.create("admin-machine-user", ["billing"])


async def test_revocation_is_immediate_here_and_after_invalidate_elsewhere(
    runtime: Authward, billing: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    url = runtime.settings.database_url
    token, info = await runtime.m2m_tokens.create("admin-machine-user", ["billing"])
    other = await Authward.open(example_config, settings_for(url), migrate=False)
    quick = await Authward.open(
        example_config, settings_for(url, cache_refresh_seconds=0.2), migrate=False
    )
    try:
        for aw in (runtime, other, quick):
            assert (await aw.m2m_tokens.verify(token, billing)).token_id == info.id

        assert await runtime.m2m_tokens.revoke(info.id) is True
        assert await refused(runtime, token, billing) == "m2m-revoked"
        assert await runtime.m2m_tokens.revoke(info.id) is False

        # Another process keeps its cached answer until its refresh interval has passed ...
        assert (await other.m2m_tokens.verify(token, billing)).token_id == info.id
        # ... or until it is told to look again.
        other.m2m_tokens.invalidate()
        assert await refused(other, token, billing) == "m2m-revoked"

        await asyncio.sleep(0.25)
        assert await refused(quick, token, billing) == "m2m-revoked"

        # A machine revoked elsewhere: the same.
        second, second_info = await runtime.m2m_tokens.create("admin-machine-user", ["billing"])
        await other.m2m_tokens.verify(second, billing)
        assert await runtime.machines.revoke("billing") is True
        assert (await other.m2m_tokens.verify(second, billing)).machine_user
        other.m2m_tokens.invalidate()
        assert await refused(other, second, billing) == "machine-secret-invalid"
    finally:
        await other.close()
        await quick.close()

    assert [t.id for t in await runtime.m2m_tokens.list()] == [second_info.id]
    everything = await runtime.m2m_tokens.list("admin-machine-user", include_revoked=True)
    assert {(t.id, t.status()) for t in everything} == {
        (info.id, "revoked"),
        (second_info.id, "active"),
    }
    assert await runtime.m2m_tokens.list("readonly-machine-user") == []
    again = await runtime.m2m_tokens.get(info.id.upper())
    assert again is not None
    assert again.revoked_at is not None


async def test_revoke_refuses_a_bad_id_and_the_token_itself(
    runtime: Authward, billing: str
) -> None:
    token, info = await runtime.m2m_tokens.create("admin-machine-user", ["billing"])
    with pytest.raises(ConfigError, match="that is the token itself"):
        await runtime.m2m_tokens.revoke(token)
    with pytest.raises(ConfigError, match="not an M2M token id"):
        await runtime.m2m_tokens.revoke("nope")
    assert await runtime.m2m_tokens.revoke(UUID(int=1)) is False
    assert await runtime.m2m_tokens.revoke(UUID(info.id)) is True
    assert await refused(runtime, token, billing) == "m2m-revoked"


async def test_expired_token_is_refused_cached_or_not(runtime: Authward, billing: str) -> None:
    token, info = await runtime.m2m_tokens.create("admin-machine-user", ["billing"], expires_in=0.5)
    assert info.expires_at is not None
    assert info.expires_at <= datetime.now(UTC) + timedelta(seconds=0.5)
    assert (await runtime.m2m_tokens.verify(token, billing)).expires_at == info.expires_at
    await asyncio.sleep(0.6)
    assert await refused(runtime, token, billing) == "m2m-expired"  # from the cache
    runtime.m2m_tokens.invalidate()
    assert await refused(runtime, token, billing) == "m2m-expired"  # from the store
    [listed] = await runtime.m2m_tokens.list()
    assert listed.status() == "expired"

    async with service(runtime, billing) as client:
        response = await client.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["message"] == "M2M token has expired"


async def test_malformed_tokens_are_refused_without_a_query(
    runtime: Authward, billing: str
) -> None:
    token, _ = await runtime.m2m_tokens.create("admin-machine-user", ["billing"])
    await runtime.m2m_tokens.verify(token, billing)
    candidates = [
        _flip(token, 10),  # a typo in the random part
        _flip(token, len(token) - 1),  # a typo in the checksum
        _swap(token),
        token[:-1],
        token + "0",
        "MT_" + token[3:],
        "ak_" + token[3:],
        token[:20] + "é" + token[21:],
        "",
        "mt_",
    ]
    with statements(runtime) as seen:
        for candidate in candidates:
            assert candidate != token
            assert await refused(runtime, candidate, billing) == "m2m-malformed", candidate
        # The chain refuses it too, still without a query.
        async with service(runtime, billing) as client:
            response = await client.get("/whoami", headers=bearer(candidates[1]))
    assert seen == []
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def test_unknown_well_formed_token_is_invalid(runtime: Authward, billing: str) -> None:
    await runtime.m2m_tokens.create("admin-machine-user", ["billing"])
    assert await refused(runtime, generate_m2m_token(), billing) == "m2m-invalid"


async def test_hot_token_at_a_known_machine_is_verified_without_io(
    runtime: Authward, billing: str
) -> None:
    token, _ = await runtime.m2m_tokens.create("admin-machine-user", ["billing"])
    await runtime.m2m_tokens.verify(token, billing)
    with statements(runtime) as seen:
        for _ in range(100):
            await runtime.m2m_tokens.verify(token, billing)
    assert seen == []


async def test_a_token_whose_machine_user_was_removed_is_refused(
    runtime: Authward, billing: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    token, info = await runtime.m2m_tokens.create("readonly-machine-user", ["billing"])
    await runtime.m2m_tokens.verify(token, billing)
    auth = example_config.auth
    smaller = Config(
        auth=dataclasses.replace(
            auth, machine_users={"admin-machine-user": auth.machine_users["admin-machine-user"]}
        ),
        db_types=example_config.db_types,
    )
    shrunk = await Authward.open(
        smaller, settings_for(runtime.settings.database_url, sync_prune=True)
    )
    try:
        assert [mu.name for mu in await shrunk.machine_users.list()] == ["admin-machine-user"]
        assert await refused(shrunk, token, billing) == "m2m-subject-unknown"
        with pytest.raises(ConfigError, match="no machine user 'readonly-machine-user'"):
            await shrunk.m2m_tokens.create("readonly-machine-user", ["billing"])
    finally:
        await shrunk.close()
    runtime.m2m_tokens.invalidate()
    assert await refused(runtime, token, billing) == "m2m-subject-unknown"
    [listed] = await runtime.m2m_tokens.list()
    assert listed.id == info.id
    assert listed.machine_user is None


async def test_accepting_m2m_tokens_is_checked_at_construction(
    runtime: Authward, billing: str
) -> None:
    with pytest.raises(ConfigError, match="m2m_token needs machine_secret_key"):
        authward_tokens(
            tokens=runtime.verifier, m2m=runtime.m2m_tokens, accepts_token=["m2m_token"]
        )
    with pytest.raises(ConfigError, match=r"m2m_token needs m2m=aw\.m2m_tokens"):
        authward_tokens(
            tokens=runtime.verifier, accepts_token=["m2m_token"], machine_secret_key=billing
        )
    with pytest.raises(ConfigError, match="machine_secret_key: not an authward machine secret"):
        authward_tokens(
            tokens=runtime.verifier,
            m2m=runtime.m2m_tokens,
            accepts_token=["m2m_token"],
            machine_secret_key=_flip(billing, 12),
        )


async def test_an_m2m_token_not_accepted_falls_through(runtime: Authward, billing: str) -> None:
    token, _ = await runtime.m2m_tokens.create("admin-machine-user", ["billing"])

    async def fallback(request: Any) -> Principal | None:
        return Principal(authenticator="next", principal_type="user", principal_id="u", subject="u")

    app = Starlette(routes=[Route("/whoami", whoami)])
    entries = [
        authward_tokens(
            tokens=runtime.verifier, api_keys=runtime.api_keys, accepts_token=["api_key"]
        ),
        fallback,
    ]
    transport = httpx.ASGITransport(app=AuthMiddleware(app, auth=entries))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/whoami", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["authenticator"] == "next"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"machine_user_name": "nobody"}, "no machine user 'nobody'"),
        ({"audience": []}, "audience: name at least one machine"),
        ({"audience": "billing"}, "audience: must be a list of machines"),
        ({"audience": ["billing", "nowhere"]}, "audience: no machine 'nowhere'"),
        ({"scopes": ["invoices:delete"]}, "machine 'billing' does not accept scope"),
        ({"scopes": ["has space"]}, "'has space' is not a scope"),
        ({"expires_in": 0}, "expires_in: must be a positive number"),
    ],
)
async def test_bad_token_requests_are_refused(
    runtime: Authward, billing: str, kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {
        "machine_user_name": "admin-machine-user",
        "audience": ["billing"],
        **kwargs,
    }
    with pytest.raises(ConfigError, match=message):
        await runtime.m2m_tokens.create(**args)
    assert await runtime.m2m_tokens.list(include_revoked=True) == []


async def test_audience_by_id_and_machine_names(runtime: Authward, billing: str) -> None:
    machine = await runtime.machines.get("billing")
    assert machine is not None
    assert await runtime.machines.get(machine.id) == machine
    token, info = await runtime.m2m_tokens.create(
        "admin-machine-user", [machine.id, "billing"], ["invoices:write"]
    )
    assert info.audience == (machine.id,)
    assert (await runtime.m2m_tokens.verify(token, billing)).scopes == ("invoices:write",)
    for bad in ("", "has space", "mch_lookalike", "x" * 65, "-dash"):
        with pytest.raises(ConfigError, match="name"):
            await runtime.machines.create(bad)
    with pytest.raises(ConfigError, match="a machine named 'billing' already exists"):
        await runtime.machines.create("billing")


async def test_only_digests_are_stored_and_audit_events_name_no_secret(
    runtime: Authward, billing: str
) -> None:
    token, info = await runtime.m2m_tokens.create(
        "admin-machine-user", ["billing"], ["invoices:read"], actor="cli"
    )
    await runtime.m2m_tokens.verify(token, billing)
    await runtime.m2m_tokens.revoke(info.id, actor="admin@example.com")
    await runtime.machines.revoke("billing", actor="admin@example.com")
    async with runtime.engine.connect() as conn:
        dumped = repr((await conn.execute(select(m2m_tokens))).all())
        dumped += repr((await conn.execute(select(machines))).all())
        dumped += repr((await conn.execute(select(audit_events))).all())
    assert token[3:-6] not in dumped
    assert billing[4:-6] not in dumped
    assert token[3:20] not in dumped
    assert billing[4:20] not in dumped

    machine = await runtime.machines.get("billing")
    assert machine is not None
    kinds = [e.kind for e in await runtime.audit.recent(limit=4)]
    assert kinds == ["machine.revoked", "m2m.revoked", "m2m.created", "machine.created"]
    [created] = await runtime.audit.recent(kind="m2m.created")
    assert created.actor == "cli"
    assert created.subject == info.subject
    assert created.detail == {
        "token_id": info.id,
        "hint": token[-4:],
        "machine_user": "admin-machine-user",
        "audience": [machine.id],
        "scopes": ["invoices:read"],
        "expires_at": None,
    }
    [revoked] = await runtime.audit.recent(kind="machine.revoked")
    assert revoked.actor == "admin@example.com"
    assert revoked.detail == {"machine_id": machine.id, "name": "billing"}
