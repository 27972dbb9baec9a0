"""Dynamic client registration (RFC 7591, decision 049): a client registers with plain httpx, then
runs the code flow with PKCE through the login and consent pages and Authlib's client, on SQLite
and PostgreSQL; what is refused (registration off, bad metadata, a wrong or missing initial access
token, too many registrations); a revoked client's grants and tokens end; config sync leaves
registered clients alone."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from sqlalchemy import select

from authward.config import Config, DynamicRegistration
from authward.errors import TokenError
from authward.runtime import Authward
from authward.server.app import build_app
from authward.store.schema import audit_events, registered_clients
from tests.conftest import SettingsFactory
from tests.integration.authorize_support import Flow, redirected_to_client
from tests.integration.oauth_support import ORG, REDIRECT, TEAM, authlib_client, oauth_config

USERNAME = "ada@example.com"
PASSWORD = "correct horse battery staple"
TOKEN_ENV = "AUTHWARD_TEST_REGISTRATION_TOKEN"
INITIAL_TOKEN = "iat-" + "x" * 40
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def open_runtime(
    config: Config, url: str, settings_for: SettingsFactory
) -> AsyncIterator[Authward]:
    aw = await Authward.open(config, settings_for(url), migrate=True)
    await aw.users.create(USERNAME, PASSWORD, profile={"organization_id": ORG, "team_id": TEAM})
    yield aw
    await aw.close()


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    config = oauth_config(
        example_config, dynamic_registration=DynamicRegistration(registrations_per_address=3)
    )
    async for runtime in open_runtime(config, database_url, settings_for):
        yield runtime


def http(aw: Authward) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(aw)), base_url=aw.issuer)


PUBLIC = {
    "redirect_uris": [REDIRECT],
    "token_endpoint_auth_method": "none",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "client_name": "Research agent",
    "client_uri": "https://agent.example",
    "logo_uri": "https://agent.example/logo.png",
    "scope": "openid profile offline_access",
}


async def register(aw: Authward, body: Any = PUBLIC, **headers: str) -> httpx.Response:
    async with http(aw) as client:
        return await client.post("/oauth2/register", json=body, headers=headers)


def authlib(aw: Authward, client_id: str, secret: str | None = None) -> Any:
    return authlib_client(
        aw,
        client_id,
        secret,
        redirect_uri=REDIRECT,
        scope="openid profile offline_access",
        code_challenge_method="S256",
        token_endpoint_auth_method="none" if secret is None else "client_secret_basic",
    )


async def authorize(aw: Authward, oc: Any, verifier: str) -> tuple[str, dict[str, str]]:
    """Authlib's authorization request, through sign-in and consent in a browser (httpx with
    cookies): the code, and the request's parameters."""
    url, state = oc.create_authorization_url(
        aw.issuer + "/oauth2/authorize", code_verifier=verifier
    )
    params = dict(parse_qsl(urlsplit(url).query))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(aw)), base_url="http://testserver"
    ) as browser:
        flow = Flow(browser)
        consent = await flow.follow(
            await flow.login(await flow.follow(await flow.start(params)), USERNAME, PASSWORD)
        )
        assert "Research agent" in consent.text
        assert "has not been verified" in consent.text
        answer = redirected_to_client(await flow.consent(consent), REDIRECT)
    assert answer["state"] == state
    return answer["code"], params


async def sign_in_with_authlib(
    aw: Authward, client_id: str, secret: str | None = None
) -> tuple[dict[str, Any], Any]:
    """The code flow with PKCE, Authlib redeeming the code: the tokens and the open client."""
    oc = authlib(aw, client_id, secret)
    verifier = "v" * 64
    code, _ = await authorize(aw, oc, verifier)
    tokens = await oc.fetch_token(aw.issuer + "/oauth2/token", code=code, code_verifier=verifier)
    return dict(tokens), oc


async def test_registered_public_client_runs_the_code_flow(aw: Authward) -> None:
    async with http(aw) as client:
        discovery = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert discovery["registration_endpoint"] == aw.issuer + "/oauth2/register"

    response = await register(aw)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    registered = response.json()
    client_id = registered["client_id"]
    assert "client_secret" not in registered
    assert {k: registered[k] for k in PUBLIC} == PUBLIC
    assert registered["application_type"] == "web"

    tokens, oc = await sign_in_with_authlib(aw, client_id)
    principal = await aw.verify_access_token(tokens["access_token"])
    account = await aw.users.find(USERNAME)
    assert account is not None
    assert principal.principal_id == account.id
    refreshed = await oc.refresh_token(
        aw.issuer + "/oauth2/token", refresh_token=tokens["refresh_token"]
    )
    assert refreshed["refresh_token"] != tokens["refresh_token"]

    # Revoked: its refresh token, its access tokens and the client itself are refused.
    assert await aw.dynamic_clients.revoke(client_id, actor="test")
    with pytest.raises(TokenError):
        await aw.verify_access_token(refreshed["access_token"])
    with pytest.raises(OAuthError) as refused:
        await oc.refresh_token(
            aw.issuer + "/oauth2/token", refresh_token=refreshed["refresh_token"]
        )
    assert refused.value.error == "invalid_client"
    await oc.aclose()
    assert not await aw.dynamic_clients.revoke(client_id)
    async with aw.engine.connect() as conn:
        kinds = (await conn.execute(select(audit_events.c.kind))).scalars().all()
    assert {"client.registered", "client.registration_revoked"} <= set(kinds)


@sqlite_only
async def test_confidential_client_gets_its_secret_once_and_it_is_stored_hashed(
    aw: Authward,
) -> None:
    body = {**PUBLIC, "token_endpoint_auth_method": "client_secret_basic"}
    registered = (await register(aw, body)).json()
    secret = registered["client_secret"]
    assert registered["client_secret_expires_at"] == 0
    async with aw.engine.connect() as conn:
        stored = (await conn.execute(select(registered_clients))).mappings().one()
    assert secret not in {str(v) for v in stored.values()}
    assert stored["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(c) for c in await aw.dynamic_clients.list())

    tokens, oc = await sign_in_with_authlib(aw, registered["client_id"], secret)
    await oc.aclose()
    assert tokens["token_type"] == "Bearer"
    wrong = authlib_client(aw, registered["client_id"], "awrs_wrong", redirect_uri=REDIRECT)
    with pytest.raises(OAuthError) as refused:
        await wrong.refresh_token(
            aw.issuer + "/oauth2/token", refresh_token=tokens["refresh_token"]
        )
    assert refused.value.error == "invalid_client"
    await wrong.aclose()


@sqlite_only
async def test_a_code_issued_before_revocation_is_refused(aw: Authward) -> None:
    client_id = (await register(aw)).json()["client_id"]
    oc = authlib(aw, client_id)
    verifier = "w" * 64
    code, params = await authorize(aw, oc, verifier)
    await aw.dynamic_clients.revoke(client_id)
    with pytest.raises(OAuthError) as refused:
        await oc.fetch_token(aw.issuer + "/oauth2/token", code=code, code_verifier=verifier)
    assert refused.value.error == "invalid_client"
    await oc.aclose()
    # The authorization endpoint no longer knows it: a page, never a redirect.
    async with http(aw) as browser:
        again = await browser.get("/oauth2/authorize", params=params)
    assert again.status_code == 400
    assert "location" not in again.headers


@sqlite_only
async def test_config_sync_never_touches_registered_clients(aw: Authward) -> None:
    client_id = (await register(aw)).json()["client_id"]
    await aw.sync(prune=True)
    assert [c.client_id for c in await aw.dynamic_clients.list()] == [client_id]
    assert await aw.oauth.clients.get(client_id) is not None


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"redirect_uris": ["http://agent.example/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": [REDIRECT + "#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["myapp:/cb"], "application_type": "native"}, "invalid_redirect_uri"),
        ({"redirect_uris": ["com.example.agent:/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"redirect_uris": None}, "invalid_redirect_uri"),
        ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
        ({"grant_types": ["refresh_token"]}, "invalid_client_metadata"),
        ({"response_types": ["token"]}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
        ({"application_type": "service"}, "invalid_client_metadata"),
        ({"logo_uri": "javascript:alert(1)"}, "invalid_client_metadata"),
        ({"client_name": "x" * 201}, "invalid_client_metadata"),
        ({"scope": "openid  profile"}, "invalid_client_metadata"),
    ],
)
@sqlite_only
async def test_bad_metadata_is_refused_with_its_rfc_7591_code(
    aw: Authward, change: dict[str, Any], error: str
) -> None:
    response = await register(aw, {**PUBLIC, **change})
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert await aw.dynamic_clients.list() == []


@sqlite_only
async def test_native_clients_may_use_loopback_and_reverse_domain_schemes(aw: Authward) -> None:
    body = {
        **PUBLIC,
        "application_type": "native",
        "redirect_uris": ["http://127.0.0.1:53682/cb", "com.example.agent:/cb"],
    }
    response = await register(aw, body)
    assert response.status_code == 201, response.text
    assert response.json()["redirect_uris"] == body["redirect_uris"]


@sqlite_only
async def test_registrations_are_limited_per_address(aw: Authward) -> None:
    for _ in range(3):
        assert (await register(aw)).status_code == 201
    refused = await register(aw)
    assert refused.status_code == 429
    assert refused.json()["error"] == "temporarily_unavailable"
    assert int(refused.headers["retry-after"]) > 0
    assert len(await aw.dynamic_clients.list()) == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_registration_is_off_by_default(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    async for aw in open_runtime(oauth_config(example_config), database_url, settings_for):
        async with http(aw) as client:
            discovery = (await client.get("/.well-known/openid-configuration")).json()
        assert "registration_endpoint" not in discovery
        assert (await register(aw)).status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_initial_access_token_is_required_when_configured(
    database_url: str,
    settings_for: SettingsFactory,
    example_config: Config,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, INITIAL_TOKEN)
    config = oauth_config(
        example_config,
        dynamic_registration=DynamicRegistration(initial_access_token=f"env:{TOKEN_ENV}"),
    )
    async for aw in open_runtime(config, database_url, settings_for):
        missing = await register(aw)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="authward"'
        for wrong in (INITIAL_TOKEN[:-1], INITIAL_TOKEN + "x", "x" * len(INITIAL_TOKEN)):
            refused = await register(aw, Authorization=f"Bearer {wrong}")
            assert refused.status_code == 401
            assert refused.json()["error"] == "invalid_token"
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
        basic = await register(aw, Authorization=f"Basic {INITIAL_TOKEN}")
        assert basic.status_code == 401
        assert await aw.dynamic_clients.list() == []
        accepted = await register(aw, Authorization=f"Bearer {INITIAL_TOKEN}")
        assert accepted.status_code == 201


@sqlite_only
async def test_the_management_api_lists_and_revokes_registered_clients(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    config = oauth_config(example_config, dynamic_registration=DynamicRegistration())
    settings = settings_for(database_url, admin_machine_users="admin-machine-user")
    aw = await Authward.open(config, settings, migrate=True)
    try:
        await aw.users.create(USERNAME, PASSWORD, profile={"organization_id": ORG, "team_id": TEAM})
        body = {**PUBLIC, "token_endpoint_auth_method": "client_secret_post"}
        registered = (await register(aw, body)).json()
        client_id = registered["client_id"]
        tokens, oc = await sign_in_with_authlib(aw, client_id, registered["client_secret"])
        headers = {"Authorization": f"Bearer {await aw.machine_user_token('admin-machine-user')}"}
        async with http(aw) as api:
            listed = (await api.get("/v1/registered-clients", headers=headers)).json()["items"]
            assert [c["client_id"] for c in listed] == [client_id]
            assert listed[0]["client_name"] == "Research agent"
            assert listed[0]["token_endpoint_auth_method"] == "client_secret_post"
            assert registered["client_secret"] not in str(listed)
            assert (await api.get("/v1/registered-clients")).status_code == 401
            gone = await api.delete(f"/v1/registered-clients/{client_id}", headers=headers)
            assert gone.status_code == 204
            again = await api.delete(f"/v1/registered-clients/{client_id}", headers=headers)
            assert again.status_code == 404
            assert again.json()["error"] == "not_found"
            assert (await api.get("/v1/registered-clients", headers=headers)).json()["items"] == []
        with pytest.raises(TokenError):
            await aw.verify_access_token(tokens["access_token"])
        await oc.aclose()
        async with aw.engine.connect() as conn:
            revoked = (
                await conn.execute(
                    select(audit_events.c.actor).where(
                        audit_events.c.kind == "client.registration_revoked"
                    )
                )
            ).scalar_one()
        admin = await aw.machine_users.get("admin-machine-user")
        assert admin is not None
        assert revoked == str(admin.id)
    finally:
        await aw.close()
