"""Introspection (RFC 7662), revocation (RFC 7009), UserInfo (OIDC Core §5.3) and metadata
(RFC 8414 / OIDC Discovery) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from authward.config import Config
from authward.errors import TokenError
from authward.runtime import Authward
from tests.conftest import SettingsFactory
from tests.integration.oauth_support import (
    REDIRECT,
    DpopKey,
    authlib_client,
    credentials,
    http,
    issue_code,
    make_user,
    new_verifier,
    oauth_config,
)


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    runtime = await Authward.open(
        oauth_config(example_config), settings_for(database_url), migrate=True
    )
    yield runtime
    await runtime.close()


async def user_tokens(
    aw: Authward,
    client: str = "web",
    scopes: tuple[str, ...] = ("openid", "profile", "email", "offline_access"),
    proof_key: DpopKey | None = None,
) -> dict[str, Any]:
    user = await make_user(aw)
    client_id, secret = await credentials(aw, client)
    verifier = new_verifier()
    code = await issue_code(aw, client_id, user, verifier, scopes=scopes)
    headers = {"DPoP": proof_key.proof(aw.issuer + "/oauth2/token")} if proof_key else {}
    async with http(aw) as c:
        response = await c.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=(client_id, secret),
            headers=headers,
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["sub"] = user
    return body


# -- introspection -----------------------------------------------------------------------------


async def test_introspection_of_access_and_refresh_tokens(aw: Authward) -> None:
    tokens = await user_tokens(aw)
    web_id, secret = await credentials(aw, "web")
    rs_id, rs_secret = await credentials(aw, "readonly-machine-user")
    url = aw.issuer + "/oauth2/introspect"
    async with authlib_client(aw, rs_id, rs_secret) as rs:
        info = (await rs.introspect_token(url, token=tokens["access_token"])).json()
        foreign_refresh = (await rs.introspect_token(url, token=tokens["refresh_token"])).json()
        junk = (await rs.introspect_token(url, token="eyJhbGciOi.not.a-token")).json()
    assert info["active"] is True
    assert info["sub"] == tokens["sub"]
    assert info["client_id"] == web_id
    assert info["scope"] == "openid profile email offline_access"
    assert info["iss"] == aw.issuer
    assert info["token_type"] == "Bearer"
    assert isinstance(info["exp"], int)
    assert isinstance(info["iat"], int)
    assert foreign_refresh == {"active": False}  # not this client's refresh token
    assert junk == {"active": False}
    async with authlib_client(aw, web_id, secret) as owner:
        own = (
            await owner.introspect_token(
                url, token=tokens["refresh_token"], token_type_hint="refresh_token"
            )
        ).json()
    assert own["active"] is True
    assert own["token_type"] == "refresh_token"
    assert own["client_id"] == web_id
    assert own["sub"] == tokens["sub"]


async def test_introspection_shows_cnf_and_turns_inactive_on_revocation(aw: Authward) -> None:
    key = DpopKey()
    tokens = await user_tokens(aw, proof_key=key)
    rs_id, rs_secret = await credentials(aw, "admin-machine-user")
    async with http(aw) as c:
        form = {"token": tokens["access_token"]}
        info = (await c.post("/oauth2/introspect", data=form, auth=(rs_id, rs_secret))).json()
        assert info["cnf"] == {"jkt": key.jkt}
        assert info["token_type"] == "DPoP"
        await aw.revoke_token(tokens["access_token"])
        info = (await c.post("/oauth2/introspect", data=form, auth=(rs_id, rs_secret))).json()
        assert info == {"active": False}


async def test_introspection_needs_an_authenticated_confidential_client(aw: Authward) -> None:
    tokens = await user_tokens(aw)
    spa_id, _ = await credentials(aw, "spa")
    rs_id, rs_secret = await credentials(aw, "admin-machine-user")
    async with http(aw) as c:
        anonymous = await c.post("/oauth2/introspect", data={"token": tokens["access_token"]})
        public = await c.post(
            "/oauth2/introspect", data={"token": tokens["access_token"], "client_id": spa_id}
        )
        wrong = await c.post(
            "/oauth2/introspect",
            data={"token": tokens["access_token"]},
            auth=(rs_id, rs_secret + "x"),
        )
        missing = await c.post("/oauth2/introspect", data={}, auth=(rs_id, rs_secret))
    for response in (anonymous, public, wrong):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert "active" not in response.json()
    assert wrong.headers["www-authenticate"].startswith("Basic")
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")


# -- revocation --------------------------------------------------------------------------------


async def test_revoking_a_refresh_token_revokes_its_family(aw: Authward) -> None:
    tokens = await user_tokens(aw)
    web_id, secret = await credentials(aw, "web")
    async with authlib_client(aw, web_id, secret) as oc:
        response = await oc.revoke_token(
            aw.issuer + "/oauth2/revoke", token=tokens["refresh_token"]
        )
        assert response.status_code == 200
        with pytest.raises(TokenError):
            await aw.verify_access_token(tokens["access_token"])
    async with http(aw) as c:
        refresh = await c.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(web_id, secret),
        )
    assert refresh.json()["error"] == "invalid_grant"
    kinds = [e.kind for e in await aw.audit.recent(20)]
    assert "token.revoked" in kinds


async def test_revoking_an_access_token(aw: Authward) -> None:
    tokens = await user_tokens(aw)
    web_id, secret = await credentials(aw, "web")
    async with http(aw) as c:
        response = await c.post(
            "/oauth2/revoke", data={"token": tokens["access_token"]}, auth=(web_id, secret)
        )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    with pytest.raises(TokenError) as caught:
        await aw.verify_access_token(tokens["access_token"])
    assert caught.value.reason == "token-revoked"


async def test_revocation_of_unknown_or_foreign_tokens_is_a_quiet_200(aw: Authward) -> None:
    tokens = await user_tokens(aw)
    other_id, other_secret = await credentials(aw, "no-refresh")
    async with http(aw) as c:
        for token in (tokens["access_token"], tokens["refresh_token"], "nonsense", "awrt_x"):
            response = await c.post(
                "/oauth2/revoke", data={"token": token}, auth=(other_id, other_secret)
            )
            assert response.status_code == 200
        unauthenticated = await c.post("/oauth2/revoke", data={"token": tokens["access_token"]})
        assert unauthenticated.status_code == 401
    # Nothing happened to the owner's tokens.
    await aw.verify_access_token(tokens["access_token"])
    web_id, secret = await credentials(aw, "web")
    async with http(aw) as c:
        refreshed = await c.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(web_id, secret),
        )
    assert refreshed.status_code == 200


async def test_machine_user_revokes_its_own_token(aw: Authward) -> None:
    machine_id, secret = await credentials(aw, "admin-machine-user")
    async with http(aw) as c:
        token = (
            await c.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(machine_id, secret),
            )
        ).json()["access_token"]
        assert (
            await c.post("/oauth2/revoke", data={"token": token}, auth=(machine_id, secret))
        ).status_code == 200
    with pytest.raises(TokenError):
        await aw.verify_access_token(token)


# -- userinfo ----------------------------------------------------------------------------------


async def test_userinfo_returns_profile_and_attributes(aw: Authward) -> None:
    tokens = await user_tokens(aw)
    web_id, secret = await credentials(aw, "web")
    async with authlib_client(aw, web_id, secret, token=tokens) as oc:
        response = await oc.get("/oauth2/userinfo")
        posted = await oc.post("/oauth2/userinfo")
    assert response.status_code == 200, response.text
    info = response.json()
    assert posted.json() == info
    assert info["sub"] == tokens["sub"]
    assert info["email"] == "alice@example.com"
    assert info["email_verified"] is True
    assert info["preferred_username"] == "alice@example.com"
    assert info["role"] == "USER"
    assert info["attribute_map"] == {"role": "USER"}
    assert info["attributes"] == [
        "550e8400-e29b-41d4-a716-446655440000",
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    ]


async def test_userinfo_releases_claims_by_scope(aw: Authward) -> None:
    tokens = await user_tokens(aw, scopes=("openid",))
    async with http(aw) as c:
        info = (
            await c.get(
                "/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
        ).json()
    assert "email" not in info
    assert "preferred_username" not in info
    assert "role" not in info
    assert info["sub"] == tokens["sub"]
    assert info["attribute_map"] == {"role": "USER"}


async def test_userinfo_errors(aw: Authward) -> None:
    no_openid = await user_tokens(aw, scopes=("profile",))
    machine_id, secret = await credentials(aw, "admin-machine-user")
    async with http(aw) as c:
        machine = (
            await c.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(machine_id, secret),
            )
        ).json()["access_token"]
        none = await c.get("/oauth2/userinfo")
        bad = await c.get("/oauth2/userinfo", headers={"Authorization": "Bearer abc.def.ghi"})
        scope = await c.get(
            "/oauth2/userinfo", headers={"Authorization": f"Bearer {no_openid['access_token']}"}
        )
        machine_response = await c.get(
            "/oauth2/userinfo", headers={"Authorization": f"Bearer {machine}"}
        )
    assert none.status_code == 401
    assert none.headers["www-authenticate"] == 'Bearer realm="authward"'
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    for response in (scope, machine_response):
        assert response.status_code == 403
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_userinfo_for_a_disabled_user_is_invalid_token(aw: Authward) -> None:
    tokens = await user_tokens(aw)
    await aw.users.disable("alice@example.com")
    async with http(aw) as c:
        response = await c.get(
            "/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_userinfo_with_a_dpop_bound_token(aw: Authward) -> None:
    key = DpopKey()
    tokens = await user_tokens(aw, proof_key=key)
    access = tokens["access_token"]
    url = aw.issuer + "/oauth2/userinfo"
    async with http(aw) as c:
        as_bearer = await c.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"})
        ok = await c.get(
            "/oauth2/userinfo",
            headers={
                "Authorization": f"DPoP {access}",
                "DPoP": key.proof(url, "GET", access_token=access),
            },
        )
        other_key = await c.get(
            "/oauth2/userinfo",
            headers={
                "Authorization": f"DPoP {access}",
                "DPoP": DpopKey().proof(url, "GET", access_token=access),
            },
        )
        no_ath = await c.get(
            "/oauth2/userinfo",
            headers={"Authorization": f"DPoP {access}", "DPoP": key.proof(url, "GET")},
        )
    assert as_bearer.status_code == 401
    assert ok.status_code == 200
    assert ok.json()["sub"] == tokens["sub"]
    for refused in (other_key, no_ath):
        assert refused.status_code == 401
        challenge = refused.headers["www-authenticate"]
        assert challenge.startswith("DPoP ")
        assert 'error="invalid_dpop_proof"' in challenge


# -- metadata ----------------------------------------------------------------------------------


async def test_metadata_documents(aw: Authward) -> None:
    async with http(aw) as c:
        oidc = (await c.get("/.well-known/openid-configuration")).json()
        oauth = (await c.get("/.well-known/oauth-authorization-server")).json()
        jwks = await c.get(oidc["jwks_uri"].removeprefix(aw.issuer))
    assert oidc == oauth
    base = aw.issuer
    assert oidc["issuer"] == base
    assert oidc["authorization_endpoint"] == base + "/oauth2/authorize"
    assert oidc["token_endpoint"] == base + "/oauth2/token"
    assert oidc["introspection_endpoint"] == base + "/oauth2/introspect"
    assert oidc["revocation_endpoint"] == base + "/oauth2/revoke"
    assert oidc["userinfo_endpoint"] == base + "/oauth2/userinfo"
    assert oidc["end_session_endpoint"] == base + "/oauth2/logout"
    assert jwks.status_code == 200
    assert jwks.json()["keys"]
    assert oidc["response_types_supported"] == ["code"]
    assert oidc["response_modes_supported"] == ["query"]
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    assert set(oidc["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert set(oidc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert oidc["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]
    assert "ES256" in oidc["dpop_signing_alg_values_supported"]
    assert "none" not in oidc["dpop_signing_alg_values_supported"]
    assert oidc["subject_types_supported"] == ["public"]
    assert oidc["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "profile", "email", "offline_access"} <= set(oidc["scopes_supported"])
    assert {"sub", "email", "attribute_map", "role"} <= set(oidc["claims_supported"])
    # Every endpoint it names is served (authorize and logout by the browser side).
    async with http(aw) as c:
        for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
            response = await c.post(oidc[name].removeprefix(base), data={})
            assert response.status_code in (400, 401), name


# -- at a resource -----------------------------------------------------------------------------


async def test_a_users_token_at_a_resource_names_the_user(aw: Authward) -> None:
    from starlette.requests import Request

    from authward.channel.authenticate import authenticate_request

    tokens = await user_tokens(aw)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api",
        "headers": [(b"authorization", f"Bearer {tokens['access_token']}".encode())],
    }
    state = await authenticate_request(
        Request(scope), tokens=aw.verifier, api_keys=None, accepts_token=["oauth_token"]
    )
    assert state.is_authenticated, state.message
    auth = state.to_auth()
    assert auth.user_id == auth.subject == tokens["sub"]
    assert auth.to_principal().attributes["userId"] == tokens["sub"]
    assert (await aw.verify_access_token(tokens["access_token"])).principal_type == "user"
    # A machine user's token acts for no user.
    machine = await aw.machine_user_token("admin-machine-user")
    scope["headers"] = [(b"authorization", f"Bearer {machine}".encode())]
    machine_auth = (
        await authenticate_request(
            Request(scope), tokens=aw.verifier, api_keys=None, accepts_token=["oauth_token"]
        )
    ).to_auth()
    assert machine_auth.user_id is None
    assert (await aw.verify_access_token(machine)).principal_type == "machine"


# -- taking access back --------------------------------------------------------------------------


async def _refresh(aw: Authward, refresh_token: str) -> int:
    client_id, secret = await credentials(aw, "web")
    async with http(aw) as c:
        response = await c.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(client_id, secret),
        )
    return response.status_code


async def test_disabling_a_user_revokes_its_tokens(aw: Authward) -> None:
    tokens = await user_tokens(aw)
    await aw.verify_access_token(tokens["access_token"])
    await aw.users.disable("alice@example.com")
    with pytest.raises(TokenError) as refused:
        await aw.verify_access_token(tokens["access_token"])
    assert refused.value.reason == "token-revoked"
    assert await _refresh(aw, tokens["refresh_token"]) == 400


async def test_revoking_consent_revokes_that_clients_tokens(aw: Authward) -> None:
    tokens = await user_tokens(aw)
    web_id = (await credentials(aw, "web"))[0]
    await aw.consents.grant(tokens["sub"], web_id, ("openid", "offline_access"))
    assert await aw.consents.revoke(tokens["sub"], web_id)
    with pytest.raises(TokenError) as refused:
        await aw.verify_access_token(tokens["access_token"])
    assert refused.value.reason == "token-revoked"
    assert await _refresh(aw, tokens["refresh_token"]) == 400
