"""Resource indicators (RFC 8707) through the authorization and token endpoints, driven by Authlib:
the token's ``aud`` is the resource, the grant keeps it across refresh (SQLite and PostgreSQL),
an undeclared or ungranted resource is ``invalid_target``, and a token for one resource is refused
by every other verifier."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from authlib.integrations.base_client.errors import OAuthError

from authward.errors import TokenError
from authward.oauth.introspection import refresh_token_info
from authward.runtime import Authward
from authward.tokens import opaque
from tests.conftest import SettingsFactory
from tests.integration.authorize_support import PASSWORD, USERNAME, Flow, browser
from tests.integration.oauth_support import DpopKey, authlib_client, credentials, http, jwt_claims
from tests.integration.resource_support import (
    REDIRECT,
    REPORTS,
    mcp_url,
    query_pairs,
    resource_config,
    signed_token,
)


async def _open(url: str, settings_for: SettingsFactory) -> Authward:
    aw = await Authward.open(resource_config(), settings_for(url), migrate=True)
    await aw.users.create(USERNAME, PASSWORD)
    return aw


@pytest.fixture
async def aw(database_url: str, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    runtime = await _open(database_url, settings_for)
    yield runtime
    await runtime.close()


@pytest.fixture
async def sqlite_aw(tmp_path: Path, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    runtime = await _open(f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}", settings_for)
    yield runtime
    await runtime.close()


def token_url(aw: Authward) -> str:
    return aw.issuer + "/oauth2/token"


async def _authorize(aw: Authward, client_id: str, **params: str) -> tuple[str, str, str]:
    """Authlib builds the authorization request; the pages are signed in and allowed. Returns
    the code, its verifier and the consent page's text."""
    verifier = "v" * 64
    async with authlib_client(aw, client_id, None, redirect_uri=REDIRECT) as oc:
        oc.code_challenge_method = "S256"
        url, _ = oc.create_authorization_url(
            aw.issuer + "/oauth2/authorize", code_verifier=verifier, **params
        )
    async with browser(aw) as client:
        flow = Flow(client)
        response = await flow.follow(
            await flow.login(await flow.follow(await flow.start(query_pairs(url))))
        )
        page = response.text
        if response.status_code == 200:
            response = await flow.consent(response)
    assert response.status_code == 303, response.text
    answer = query_pairs(response.headers["location"])
    assert "code" in answer, answer
    return answer["code"], verifier, page


async def test_code_and_refresh_keep_the_resource(aw: Authward) -> None:
    client_id, _ = await _public(aw)
    mcp = mcp_url(aw)
    code, verifier, consent = await _authorize(
        aw, client_id, scope="openid tools:read offline_access", resource=mcp
    )
    assert f"Use Tools ({mcp}) as you" in consent
    async with authlib_client(aw, client_id, None, redirect_uri=REDIRECT) as oc:
        oc.token_endpoint_auth_method = "none"
        first = await oc.fetch_token(token_url(aw), code=code, code_verifier=verifier, resource=mcp)
        claims = jwt_claims(first["access_token"])
        assert claims["aud"] == mcp
        assert claims["scope"] == "openid tools:read offline_access"
        # Refresh without naming it keeps the grant's resource; naming it again too.
        second = await oc.refresh_token(token_url(aw), refresh_token=first["refresh_token"])
        assert jwt_claims(second["access_token"])["aud"] == mcp
        third = await oc.refresh_token(
            token_url(aw), refresh_token=second["refresh_token"], resource=mcp, scope="tools:read"
        )
        assert jwt_claims(third["access_token"])["aud"] == mcp
        assert third["scope"] == "tools:read"
        # Never another resource, never widened to none.
        with pytest.raises(OAuthError) as refused:
            await oc.refresh_token(
                token_url(aw), refresh_token=third["refresh_token"], resource=REPORTS
            )
        assert refused.value.error == "invalid_target"

    token = third["access_token"]
    assert (await aw.verifier.for_audience(mcp).verify_token(token)).claims["sub"]
    for verifier_ in (aw.verifier, aw.verifier.for_audience(REPORTS)):
        with pytest.raises(TokenError) as wrong:
            await verifier_.verify_token(token)
        assert wrong.value.reason == "token-invalid-audience"
    with pytest.raises(TokenError):
        await aw.verify_access_token(token)  # the server's own audience only
    assert (await aw.verify_access_token(token, resource="mcp")).subject == claims["sub"]

    # Introspection (RFC 7662) reports the audience; the grant holds the resource.
    web_id, web_secret = await credentials(aw, "web")
    async with http(aw) as client:
        info = (
            await client.post(
                "/oauth2/introspect", data={"token": token}, auth=(web_id, web_secret)
            )
        ).json()
    assert info["active"] is True
    assert info["aud"] == mcp
    row = await aw.oauth.grants.get(opaque.digest(third["refresh_token"]))
    assert row is not None
    assert row.data["resource"] == mcp
    assert refresh_token_info(row, issuer=aw.issuer)["aud"] == mcp


async def _public(aw: Authward) -> tuple[str, None]:
    found = await aw.clients.get("agent")
    assert found is not None
    return found.client_id, None


async def test_without_resource_nothing_changes(sqlite_aw: Authward) -> None:
    aw = sqlite_aw
    client_id, _ = await _public(aw)
    code, verifier, _ = await _authorize(aw, client_id, scope="openid offline_access")
    async with authlib_client(aw, client_id, None, redirect_uri=REDIRECT) as oc:
        oc.token_endpoint_auth_method = "none"
        with pytest.raises(OAuthError) as refused:
            # A grant made without a resource cannot be turned into one for a resource.
            await oc.fetch_token(
                token_url(aw), code=code, code_verifier=verifier, resource=mcp_url(aw)
            )
        assert refused.value.error == "invalid_target"
    code, verifier, _ = await _authorize(aw, client_id, scope="openid offline_access")
    async with authlib_client(aw, client_id, None, redirect_uri=REDIRECT) as oc:
        oc.token_endpoint_auth_method = "none"
        token = await oc.fetch_token(token_url(aw), code=code, code_verifier=verifier)
    assert jwt_claims(token["access_token"])["aud"] == aw.issuer
    assert (await aw.verify_access_token(token["access_token"])).subject
    with pytest.raises(TokenError):
        # Decision 047: a resource accepts only tokens issued for it.
        await aw.verifier.for_audience(mcp_url(aw)).verify_token(token["access_token"])


async def test_authorization_requests_with_bad_resources(sqlite_aw: Authward) -> None:
    aw = sqlite_aw
    client_id, _ = await _public(aw)
    base = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": "A" * 43,
        "code_challenge_method": "S256",
        "state": "s1",
    }
    cases = [
        ({"resource": "https://elsewhere.example/api"}, "invalid_target"),
        # A resource's scope goes only with it, and not with another resource.
        ({"scope": "tools:read"}, "invalid_scope"),
        ({"scope": "tools:read", "resource": REPORTS}, "invalid_scope"),
    ]
    async with http(aw) as client:
        for extra, error in cases:
            response = await client.get("/oauth2/authorize", params={**base, **extra})
            assert response.status_code == 303, response.text
            answer = query_pairs(response.headers["location"])
            assert answer["error"] == error, (extra, answer)
            assert answer["state"] == "s1"
        two = [*base.items(), ("resource", mcp_url(aw)), ("resource", REPORTS)]
        response = await client.get("/oauth2/authorize", params=two)
        assert query_pairs(response.headers["location"])["error"] == "invalid_target"


async def test_consent_to_one_resource_does_not_cover_another(sqlite_aw: Authward) -> None:
    aw = sqlite_aw
    client_id, _ = await _public(aw)
    # REPORTS needs DPoP at the token endpoint, not here.
    await _authorize(aw, client_id, scope="openid", resource=mcp_url(aw))
    _, _, page = await _authorize(aw, client_id, scope="openid", resource=REPORTS)
    assert f"({REPORTS}) as you" in page


async def test_client_credentials_for_a_resource(sqlite_aw: Authward) -> None:
    aw = sqlite_aw
    mu_id, mu_secret = await credentials(aw, "robot")
    async with authlib_client(aw, mu_id, mu_secret) as oc:
        plain = await oc.fetch_token(token_url(aw), grant_type="client_credentials")
        assert jwt_claims(plain["access_token"])["aud"] == aw.issuer
        for_mcp = await oc.fetch_token(
            token_url(aw), grant_type="client_credentials", resource=mcp_url(aw)
        )
        assert jwt_claims(for_mcp["access_token"])["aud"] == mcp_url(aw)
        for resource, error in (
            ("https://elsewhere.example/api", "invalid_target"),
            # The reports resource requires DPoP: no unbound token is issued for it.
            (REPORTS, "invalid_dpop_proof"),
        ):
            with pytest.raises(OAuthError) as refused:
                await oc.fetch_token(
                    token_url(aw), grant_type="client_credentials", resource=resource
                )
            assert refused.value.error == error
    key = DpopKey()
    async with http(aw) as client:
        response = await client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "resource": REPORTS},
            auth=(mu_id, mu_secret),
            headers={"DPoP": key.proof(token_url(aw))},
        )
    body = response.json()
    assert response.status_code == 200, body
    assert body["token_type"] == "DPoP"
    assert body["expires_in"] == 300  # the resource's lifetime
    claims = jwt_claims(body["access_token"])
    assert claims["aud"] == REPORTS
    assert claims["cnf"] == {"jkt": key.jkt}


async def test_forged_foreign_and_expired_audiences_are_refused(sqlite_aw: Authward) -> None:
    aw = sqlite_aw
    mcp = aw.verifier.for_audience(mcp_url(aw))
    assert await mcp.verify_token(await signed_token(aw))
    # Signed with our key, for an audience we never issue for: refused everywhere.
    foreign = await signed_token(aw, audience="https://elsewhere.example/api")
    for verifier in (mcp, aw.verifier):
        with pytest.raises(TokenError) as refused:
            await verifier.verify_token(foreign)
        assert refused.value.reason == "token-invalid-audience"
    past = int(time.time()) - 3600
    expired = await signed_token(aw, issued_at=past - 600, expires_at=past)
    with pytest.raises(TokenError) as refused:
        await mcp.verify_token(expired)
    assert refused.value.reason == "token-expired"
    # A token whose payload was changed to name the resource fails its signature.
    good = await signed_token(aw, audience=aw.issuer)
    header, _, signature = good.split(".")
    forged_payload = (await signed_token(aw)).split(".")[1]
    with pytest.raises(TokenError):
        await mcp.verify_token(f"{header}.{forged_payload}.{signature}")
