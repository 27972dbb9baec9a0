"""The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §5, §6; RFC 7636; RFC 9700) on SQLite and
PostgreSQL, driven by Authlib's OAuth 2.0 client for the happy paths and by hand for every
refusal."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, update

from authward.config import Config
from authward.errors import TokenError
from authward.runtime import Authward
from authward.store.audit import AuditEvent
from authward.store.schema import audit_events, grants
from tests.conftest import SettingsFactory
from tests.integration.oauth_support import (
    REDIRECT,
    authlib_client,
    credentials,
    http,
    issue_code,
    jwt_claims,
    jwt_header,
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


def token_url(aw: Authward) -> str:
    return aw.issuer + "/oauth2/token"


async def post_token(aw: Authward, data: Any, **kw: Any) -> httpx.Response:
    async with http(aw) as client:
        return await client.post("/oauth2/token", data=data, **kw)


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert response.headers["cache-control"] == "no-store"
    return str(body["error"])


async def audit_kinds(aw: Authward) -> list[str]:
    async with aw.engine.connect() as conn:
        rows = await conn.execute(select(audit_events.c.kind).order_by(audit_events.c.id))
        return list(rows.scalars())


# -- client_credentials ------------------------------------------------------------------------


async def test_client_credentials_token_verifies_here_and_with_pyjwt(aw: Authward) -> None:
    client_id, secret = await credentials(aw, "admin-machine-user")
    async with authlib_client(aw, client_id, secret) as oc:
        token = await oc.fetch_token(token_url(aw), grant_type="client_credentials")
        jwks = (await oc.get("/.well-known/jwks.json")).json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == aw.settings.machine_user_token_lifetime_seconds
    assert "refresh_token" not in token
    assert "id_token" not in token

    principal = await aw.verify_access_token(token["access_token"])
    assert principal.principal_type == "machine"
    assert principal.attributes["role"] == "ADMIN"

    header = jwt_header(token["access_token"])
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    claims = jwt.decode(
        token["access_token"],
        key=key,
        algorithms=["EdDSA"],
        audience=aw.audience,
        issuer=aw.issuer,
    )
    assert header["typ"] == "at+jwt"
    assert claims["client_id"] == client_id
    # The same kind of token `authward machineuser token` prints.
    same = jwt_claims(await aw.machine_user_token("admin-machine-user"))
    assert set(same) == set(claims)
    assert {k: same[k] for k in ("sub", "client_id", "attribute_map", "attributes")} == {
        k: claims[k] for k in ("sub", "client_id", "attribute_map", "attributes")
    }


async def test_client_credentials_writes_nothing(aw: Authward) -> None:
    client_id, secret = await credentials(aw, "readonly-machine-user")
    before = await audit_kinds(aw)
    async with aw.engine.connect() as conn:
        grants_before = len((await conn.execute(select(grants.c.digest))).all())
    response = await post_token(
        aw, {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert response.status_code == 200
    assert await audit_kinds(aw) == before
    async with aw.engine.connect() as conn:
        assert len((await conn.execute(select(grants.c.digest))).all()) == grants_before


async def test_client_credentials_is_for_machine_users_only(aw: Authward) -> None:
    client_id, secret = await credentials(aw, "web")
    response = await post_token(aw, {"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert response.status_code == 400
    assert error_of(response) == "unauthorized_client"
    machine_id, machine_secret = await credentials(aw, "admin-machine-user")
    user = await make_user(aw)
    verifier = new_verifier()
    code = await issue_code(aw, machine_id, user, verifier)
    response = await post_token(
        aw,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(machine_id, machine_secret),
    )
    assert error_of(response) == "unauthorized_client"
    response = await post_token(
        aw,
        {"grant_type": "client_credentials", "scope": "openid"},
        auth=(machine_id, machine_secret),
    )
    assert error_of(response) == "invalid_scope"


# -- client authentication ---------------------------------------------------------------------


async def test_wrong_secret_and_another_clients_secret(aw: Authward) -> None:
    machine_id, machine_secret = await credentials(aw, "admin-machine-user")
    _, other_secret = await credentials(aw, "readonly-machine-user")
    form = {"grant_type": "client_credentials"}
    for secret in (machine_secret + "x", other_secret, ""):
        response = await post_token(aw, form, auth=(machine_id, secret))
        assert response.status_code == 401
        assert error_of(response) == "invalid_client"
        assert response.headers["www-authenticate"] == 'Basic realm="authward"'
    # client_secret_post: 401 without a Basic challenge
    response = await post_token(
        aw, {**form, "client_id": machine_id, "client_secret": other_secret}
    )
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"
    assert "www-authenticate" not in response.headers
    response = await post_token(aw, {**form, "client_id": "awm_nobody", "client_secret": "x"})
    assert error_of(response) == "invalid_client"
    response = await post_token(aw, form)
    assert (response.status_code, error_of(response)) == (401, "invalid_client")


async def test_basic_and_post_together_is_invalid_request(aw: Authward) -> None:
    machine_id, secret = await credentials(aw, "admin-machine-user")
    response = await post_token(
        aw,
        {"grant_type": "client_credentials", "client_id": machine_id, "client_secret": secret},
        auth=(machine_id, secret),
    )
    assert (response.status_code, error_of(response)) == (400, "invalid_request")


async def test_basic_credentials_are_form_decoded(aw: Authward) -> None:
    """RFC 6749 §2.3.1: id and secret are form-encoded before Basic joins them."""
    machine_id, secret = await credentials(aw, "admin-machine-user")
    raw = f"{machine_id}:{secret}".replace("-", "%2D")
    header = "Basic " + base64.b64encode(raw.encode()).decode()
    response = await post_token(
        aw, {"grant_type": "client_credentials"}, headers={"Authorization": header}
    )
    assert response.status_code == 200
    response = await post_token(
        aw, {"grant_type": "client_credentials"}, headers={"Authorization": "Basic !!!"}
    )
    assert error_of(response) == "invalid_client"


async def test_confidential_client_needs_its_secret_public_client_has_none(aw: Authward) -> None:
    user = await make_user(aw)
    web_id, _ = await credentials(aw, "web")
    verifier = new_verifier()
    code = await issue_code(aw, web_id, user, verifier)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": web_id,
    }
    response = await post_token(aw, form)
    assert (response.status_code, error_of(response)) == (401, "invalid_client")
    spa_id, spa_secret = await credentials(aw, "spa")
    response = await post_token(aw, {**form, "client_id": spa_id, "client_secret": spa_secret})
    assert error_of(response) == "invalid_client"


# -- request format ----------------------------------------------------------------------------


async def test_grant_type_missing_or_unsupported(aw: Authward) -> None:
    machine_id, secret = await credentials(aw, "admin-machine-user")
    response = await post_token(aw, {}, auth=(machine_id, secret))
    assert (response.status_code, error_of(response)) == (400, "invalid_request")
    for grant_type in ("password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"):
        response = await post_token(aw, {"grant_type": grant_type}, auth=(machine_id, secret))
        assert (response.status_code, error_of(response)) == (400, "unsupported_grant_type")


async def test_malformed_requests_get_invalid_request(aw: Authward) -> None:
    machine_id, secret = await credentials(aw, "admin-machine-user")
    form = "grant_type=client_credentials"
    async with http(aw) as client:
        repeated = await client.post(
            "/oauth2/token",
            content=form + "&grant_type=client_credentials",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(machine_id, secret),
        )
        as_json = await client.post(
            "/oauth2/token", json={"grant_type": "client_credentials"}, auth=(machine_id, secret)
        )
        huge = await client.post(
            "/oauth2/token",
            content=form + "&pad=" + "a" * 100_000,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(machine_id, secret),
        )
        not_utf8 = await client.post(
            "/oauth2/token",
            content=b"grant_type=client_credentials&x=\xff",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(machine_id, secret),
        )
        unknown_ignored = await client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "resource_hint": "x", "empty": ""},
            auth=(machine_id, secret),
        )
        get = await client.get("/oauth2/token")
    assert (repeated.status_code, error_of(repeated)) == (400, "invalid_request")
    assert "repeated" in repeated.json()["error_description"]
    assert (as_json.status_code, error_of(as_json)) == (400, "invalid_request")
    assert (huge.status_code, error_of(huge)) == (413, "invalid_request")
    assert (not_utf8.status_code, error_of(not_utf8)) == (400, "invalid_request")
    assert unknown_ignored.status_code == 200
    assert get.status_code == 405


# -- authorization_code ------------------------------------------------------------------------


async def test_code_flow_with_authlib(aw: Authward) -> None:
    user = await make_user(aw)
    web_id, secret = await credentials(aw, "web")
    verifier = new_verifier()
    code = await issue_code(aw, web_id, user, verifier)
    async with authlib_client(aw, web_id, secret, redirect_uri=REDIRECT) as oc:
        token = await oc.fetch_token(
            token_url(aw), grant_type="authorization_code", code=code, code_verifier=verifier
        )
        jwks = (await oc.get("/.well-known/jwks.json")).json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 600  # the client's own lifetime
    assert token["scope"] == "openid profile email offline_access"
    assert token["refresh_token"].startswith("awrt_")

    access = jwt_claims(token["access_token"])
    assert access["sub"] == user
    assert access["client_id"] == web_id
    assert access["attribute_map"] == {"role": "USER"}
    assert len(access["attributes"]) == 2
    principal = await aw.verify_access_token(token["access_token"])
    assert (principal.principal_type, principal.subject) == ("user", user)

    # The access token keeps the server's algorithm; the ID token is RS256 by default (OIDC).
    assert jwt_header(token["access_token"])["alg"] == "EdDSA"
    header = jwt_header(token["id_token"])
    id_claims = jwt.decode(
        token["id_token"],
        key=jwt.PyJWKSet.from_dict(jwks)[header["kid"]],
        algorithms=["RS256"],
        audience=web_id,
        issuer=aw.issuer,
    )
    assert header["typ"] == "JWT"
    assert header["alg"] == "RS256"
    assert id_claims["sub"] == user
    assert id_claims["nonce"] == "n-0S6_WzA2Mj"
    assert id_claims["sid"] == "sess-123"
    assert id_claims["email"] == "alice@example.com"
    assert id_claims["email_verified"] is True
    assert id_claims["preferred_username"] == "alice@example.com"
    assert isinstance(id_claims["auth_time"], int)
    # OIDC Core §3.1.3.6 with RS256: left half of SHA-256 of the access token.
    digest = hashlib.sha256(token["access_token"].encode()).digest()[:16]
    assert id_claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "token.issued" in await audit_kinds(aw)


async def test_scopes_decide_id_token_claims_and_refresh(aw: Authward) -> None:
    user = await make_user(aw)

    async def redeem(scopes: tuple[str, ...], client: str = "web") -> dict[str, Any]:
        client_id, client_secret = await credentials(aw, client)
        verifier = new_verifier()
        code = await issue_code(aw, client_id, user, verifier, scopes=scopes)
        response = await post_token(
            aw,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=(client_id, client_secret),
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    plain = await redeem(("openid",))
    assert "refresh_token" not in plain  # OpenID without offline_access: no refresh token
    id_claims = jwt_claims(plain["id_token"])
    assert "email" not in id_claims
    assert "preferred_username" not in id_claims
    oauth_only = await redeem(("profile",))
    assert "id_token" not in oauth_only
    assert "refresh_token" in oauth_only
    no_refresh = await redeem(("openid", "offline_access"), client="no-refresh")
    assert "refresh_token" not in no_refresh


async def test_code_reuse_is_refused_and_revokes_its_tokens(aw: Authward) -> None:
    user = await make_user(aw)
    web_id, secret = await credentials(aw, "web")
    verifier = new_verifier()
    code = await issue_code(aw, web_id, user, verifier)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    first = await post_token(aw, form, auth=(web_id, secret))
    assert first.status_code == 200
    tokens = first.json()
    await aw.verify_access_token(tokens["access_token"])

    again = await post_token(aw, form, auth=(web_id, secret))
    assert (again.status_code, error_of(again)) == (400, "invalid_grant")
    with pytest.raises(TokenError) as caught:
        await aw.verify_access_token(tokens["access_token"])
    assert caught.value.reason == "token-revoked"
    refresh = await post_token(
        aw,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(web_id, secret),
    )
    assert error_of(refresh) == "invalid_grant"
    assert "grant.code_reused" in await audit_kinds(aw)


async def test_code_checks(aw: Authward) -> None:
    """Wrong or missing PKCE verifier, wrong redirect URI, another client's code, an unknown or
    expired code: invalid_grant or invalid_request, and the code stays usable by its owner
    (a failed attempt does not burn it)."""
    user = await make_user(aw)
    web_id, secret = await credentials(aw, "web")
    other_id, other_secret = await credentials(aw, "no-refresh")
    verifier = new_verifier()
    code = await issue_code(aw, web_id, user, verifier)
    good = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    cases: list[tuple[dict[str, str], tuple[str, str], str]] = [
        ({**good, "code_verifier": new_verifier()}, (web_id, secret), "invalid_grant"),
        (
            {k: v for k, v in good.items() if k != "code_verifier"},
            (web_id, secret),
            "invalid_request",
        ),
        ({**good, "code_verifier": "short"}, (web_id, secret), "invalid_request"),
        ({**good, "code_verifier": verifier + "!"}, (web_id, secret), "invalid_request"),
        ({**good, "redirect_uri": "https://web.example.com/cb"}, (web_id, secret), "invalid_grant"),
        ({**good, "redirect_uri": REDIRECT + "/"}, (web_id, secret), "invalid_grant"),
        (
            {k: v for k, v in good.items() if k != "redirect_uri"},
            (web_id, secret),
            "invalid_request",
        ),
        (good, (other_id, other_secret), "invalid_grant"),
        (
            {**good, "code": code[:-1] + ("A" if code[-1] != "A" else "B")},
            (web_id, secret),
            "invalid_grant",
        ),
        ({**good, "code": "awcode_" + "x" * 49}, (web_id, secret), "invalid_grant"),
        ({k: v for k, v in good.items() if k != "code"}, (web_id, secret), "invalid_request"),
    ]
    for form, auth, expected in cases:
        response = await post_token(aw, form, auth=auth)
        assert response.status_code == 400, form
        assert error_of(response) == expected, form
    assert (await post_token(aw, good, auth=(web_id, secret))).status_code == 200

    expired = await issue_code(aw, web_id, user, verifier)
    async with aw.engine.begin() as conn:
        await conn.execute(
            update(grants)
            .where(grants.c.kind == "code", grants.c.used_at.is_(None))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    response = await post_token(aw, {**good, "code": expired}, auth=(web_id, secret))
    assert error_of(response) == "invalid_grant"
    assert "expired" in response.json()["error_description"]


async def test_code_lifetime_is_a_minute(aw: Authward) -> None:
    user = await make_user(aw)
    web_id, _ = await credentials(aw, "web")
    await issue_code(aw, web_id, user, new_verifier())
    async with aw.engine.connect() as conn:
        row = (await conn.execute(select(grants).where(grants.c.kind == "code"))).one()
    assert timedelta(0) < row.expires_at - row.created_at <= timedelta(seconds=60)
    # Only the digest is stored, never the code.
    assert not row.digest.startswith("awcode_")


async def test_public_client_uses_pkce_without_secret(aw: Authward) -> None:
    user = await make_user(aw)
    spa_id, _ = await credentials(aw, "spa")
    verifier = new_verifier()
    code = await issue_code(aw, spa_id, user, verifier)
    async with authlib_client(
        aw, spa_id, None, redirect_uri=REDIRECT, token_endpoint_auth_method="none"
    ) as oc:
        token = await oc.fetch_token(
            token_url(aw), grant_type="authorization_code", code=code, code_verifier=verifier
        )
        refreshed = await oc.refresh_token(token_url(aw), refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    await aw.verify_access_token(refreshed["access_token"])


async def test_disabled_user_gets_no_tokens(aw: Authward) -> None:
    user = await make_user(aw)
    web_id, secret = await credentials(aw, "web")
    verifier = new_verifier()
    code = await issue_code(aw, web_id, user, verifier)
    await aw.users.disable("alice@example.com")
    response = await post_token(
        aw,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(web_id, secret),
    )
    assert error_of(response) == "invalid_grant"


# -- refresh_token -----------------------------------------------------------------------------


async def first_tokens(aw: Authward, client: str = "web") -> tuple[str, str, dict[str, Any]]:
    user = await make_user(aw)
    client_id, secret = await credentials(aw, client)
    verifier = new_verifier()
    code = await issue_code(aw, client_id, user, verifier)
    response = await post_token(
        aw,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert response.status_code == 200
    return client_id, secret, response.json()


async def test_refresh_rotates_with_authlib(aw: Authward) -> None:
    web_id, secret, tokens = await first_tokens(aw)
    async with authlib_client(aw, web_id, secret) as oc:
        second = await oc.refresh_token(token_url(aw), refresh_token=tokens["refresh_token"])
        third = await oc.refresh_token(token_url(aw), refresh_token=second["refresh_token"])
    assert len({tokens["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3
    assert third["scope"] == "openid profile email offline_access"
    assert jwt_claims(third["id_token"])["auth_time"] == jwt_claims(tokens["id_token"])["auth_time"]
    await aw.verify_access_token(third["access_token"])
    assert (await audit_kinds(aw)).count("token.refreshed") == 2


async def test_refresh_reuse_revokes_the_family(aw: Authward) -> None:
    web_id, secret, tokens = await first_tokens(aw)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    second = (await post_token(aw, form, auth=(web_id, secret))).json()
    third = (
        await post_token(
            aw,
            {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
            auth=(web_id, secret),
        )
    ).json()
    replay = await post_token(aw, form, auth=(web_id, secret))
    assert (replay.status_code, error_of(replay)) == (400, "invalid_grant")
    for access in (tokens["access_token"], second["access_token"], third["access_token"]):
        with pytest.raises(TokenError):
            await aw.verify_access_token(access)
    latest = await post_token(
        aw,
        {"grant_type": "refresh_token", "refresh_token": third["refresh_token"]},
        auth=(web_id, secret),
    )
    assert error_of(latest) == "invalid_grant"
    assert "grant.refresh_reused" in await audit_kinds(aw)


async def test_refresh_scope_narrows_never_widens(aw: Authward) -> None:
    web_id, secret, tokens = await first_tokens(aw)
    narrowed = await post_token(
        aw,
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "openid offline_access",
        },
        auth=(web_id, secret),
    )
    assert narrowed.status_code == 200
    body = narrowed.json()
    assert body["scope"] == "openid offline_access"
    assert jwt_claims(body["access_token"])["scope"] == "openid offline_access"
    # The grant itself keeps its scopes: the next refresh may ask for all of them again.
    full = await post_token(
        aw,
        {
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "scope": "openid profile email offline_access",
        },
        auth=(web_id, secret),
    )
    assert full.status_code == 200
    wider = await post_token(
        aw,
        {"grant_type": "refresh_token", "refresh_token": full.json()["refresh_token"]}
        | {"scope": "openid unknown"},
        auth=(web_id, secret),
    )
    assert error_of(wider) == "invalid_scope"


async def test_refresh_token_checks(aw: Authward) -> None:
    web_id, secret, tokens = await first_tokens(aw)
    other_id, other_secret = await credentials(aw, "no-refresh")
    spa_id, _ = await credentials(aw, "spa")
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    # another client may not use it (and that does not revoke it)
    response = await post_token(aw, {**form, "client_id": spa_id})
    assert error_of(response) == "invalid_grant"
    response = await post_token(aw, form, auth=(other_id, other_secret))
    assert error_of(response) == "unauthorized_client"
    response = await post_token(aw, {"grant_type": "refresh_token"}, auth=(web_id, secret))
    assert error_of(response) == "invalid_request"
    response = await post_token(
        aw, {**form, "refresh_token": "awrt_nonsense"}, auth=(web_id, secret)
    )
    assert error_of(response) == "invalid_grant"
    assert (await post_token(aw, form, auth=(web_id, secret))).status_code == 200


async def test_refresh_token_expires_with_the_clients_lifetime(aw: Authward) -> None:
    web_id, secret, tokens = await first_tokens(aw)
    async with aw.engine.connect() as conn:
        row = (await conn.execute(select(grants).where(grants.c.kind == "refresh"))).one()
    assert row.expires_at - row.created_at == timedelta(seconds=3600)  # "web" says 3600
    async with aw.engine.begin() as conn:
        await conn.execute(
            update(grants)
            .where(grants.c.kind == "refresh")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    response = await post_token(
        aw,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(web_id, secret),
    )
    assert error_of(response) == "invalid_grant"


async def test_audit_events_carry_no_secrets(aw: Authward) -> None:
    web_id, secret, tokens = await first_tokens(aw)
    await post_token(
        aw,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(web_id, secret),
    )
    events: list[AuditEvent] = await aw.audit.recent(50)
    text = repr(events)
    for value in (secret, tokens["refresh_token"], tokens["access_token"], tokens["id_token"]):
        assert value not in text
