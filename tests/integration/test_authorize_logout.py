"""End session (RP-Initiated Logout 1.0) on SQLite and PostgreSQL: a valid id_token_hint signs the
browser out at once (an expired one too), anything else asks first through a CSRF-protected page;
post_logout_redirect_uri only when registered for the client, with state; never a redirect on
error. And the config field it relies on, checked when the app is loaded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from authward import db, define_auth
from authward.errors import ConfigError
from authward.runtime import Authward
from authward.tokens.jwt import sign_jwt
from authward.tokens.keys import KeyAlg, SigningKey, generate_signing_key
from tests.conftest import SettingsFactory
from tests.integration.authorize_support import (
    LOGOUT_TARGET,
    PASSWORD,
    REDIRECT,
    USERNAME,
    Flow,
    auth_params,
    browser,
    browser_config,
    client_id,
    form_fields,
    pkce,
    redirected_to_client,
    sqlite_only,
)


@pytest.fixture
async def aw(database_url: str, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    runtime = await Authward.open(browser_config(), settings_for(database_url), migrate=True)
    await runtime.users.create(USERNAME, PASSWORD)
    yield runtime
    await runtime.close()


@pytest.fixture
async def flow(aw: Authward) -> AsyncIterator[Flow]:
    async with browser(aw) as http:
        yield Flow(http)


async def sign_in_for_id_token(aw: Authward, flow: Flow) -> str:
    """Sign in through the code flow and redeem the code at the token endpoint."""
    cid = await client_id(aw)
    verifier, challenge = pkce()
    answer = redirected_to_client(
        await flow.sign_in_and_consent(auth_params(cid, code_challenge=challenge))
    )
    secret = await aw.clients.client_secret("web")
    assert secret is not None
    response = await flow.http.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(cid, secret.get_secret_value()),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id_token"])


async def signed_in(aw: Authward, flow: Flow) -> bool:
    params = auth_params(await client_id(aw), prompt="none")
    return "code" in redirected_to_client(await flow.start(params))


async def id_token(aw: Authward, **claims: Any) -> str:
    account = await aw.users.find(USERNAME)
    assert account is not None
    now = int(time.time())
    base = {
        "iss": aw.issuer,
        "sub": account.id,
        "aud": await client_id(aw),
        "iat": now - 7200,
        "exp": now - 3600,
    }
    return sign_jwt(await aw.signing_keys.signer(), {**base, **claims}, typ="JWT")


async def test_valid_hint_signs_out_and_returns_with_state(aw: Authward, flow: Flow) -> None:
    hint = await sign_in_for_id_token(aw, flow)
    assert await signed_in(aw, flow)
    response = await flow.http.get(
        "/oauth2/logout",
        params={
            "id_token_hint": hint,
            "post_logout_redirect_uri": LOGOUT_TARGET,
            "state": "bye-1",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == LOGOUT_TARGET + "?state=bye-1"
    assert response.headers["cache-control"] == "no-store"
    answer = redirected_to_client(await flow.start(auth_params(await client_id(aw), prompt="none")))
    assert answer["error"] == "login_required"
    ended = [e for e in await aw.audit.recent(50) if e.kind == "session.ended"]
    assert len(ended) == 1
    assert ended[0].client_id == await client_id(aw)


@sqlite_only
async def test_expired_hint_is_accepted_and_post_works_too(aw: Authward, flow: Flow) -> None:
    await flow.sign_in_and_consent(auth_params(await client_id(aw)))
    response = await flow.http.post("/oauth2/logout", data={"id_token_hint": await id_token(aw)})
    assert response.status_code == 200
    assert "You are signed out." in response.text
    answer = redirected_to_client(await flow.start(auth_params(await client_id(aw), prompt="none")))
    assert answer["error"] == "login_required"


async def bad_hints(aw: Authward) -> list[str]:
    good = await id_token(aw)
    head, payload, signature = good.split(".")
    return [
        await id_token(aw, iss="https://other.example"),
        sign_jwt(
            generate_signing_key("ES256"), {"iss": aw.issuer, "sub": "x", "aud": "y"}, typ="JWT"
        ),
        f"{head}.{payload}.{signature[:-4]}AAAA",
        "not-a-token",
    ]


@sqlite_only
async def test_invalid_requests_show_a_page_and_sign_nobody_out(aw: Authward, flow: Flow) -> None:
    await flow.sign_in_and_consent(auth_params(await client_id(aw)))
    cid = await client_id(aw)
    good = await id_token(aw)
    requests: list[dict[str, str]] = [
        {"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_TARGET}
        for hint in await bad_hints(aw)
    ]
    requests += [
        # Registered as a redirect URI, not as a post-logout one.
        {"id_token_hint": good, "post_logout_redirect_uri": REDIRECT},
        {"id_token_hint": good, "post_logout_redirect_uri": LOGOUT_TARGET + "/x"},
        {"id_token_hint": good, "post_logout_redirect_uri": "https://evil.example/"},
        {"post_logout_redirect_uri": LOGOUT_TARGET},  # no client to check it against
        {"client_id": "awc_unknown", "post_logout_redirect_uri": LOGOUT_TARGET},
        {"id_token_hint": good, "client_id": await client_id(aw, "no-refresh")},
    ]
    for params in requests:
        response = await flow.http.get("/oauth2/logout", params=params)
        assert response.status_code == 400, params
        assert "location" not in response.headers
        assert "not signed out" in response.text
    twice = [("client_id", cid), ("client_id", cid)]
    assert (await flow.http.get("/oauth2/logout", params=twice)).status_code == 400
    assert await signed_in(aw, flow)


async def test_without_a_hint_the_user_confirms(aw: Authward, flow: Flow) -> None:
    cid = await client_id(aw)
    await flow.sign_in_and_consent(auth_params(cid))
    page = await flow.http.get(
        "/oauth2/logout",
        params={"client_id": cid, "post_logout_redirect_uri": LOGOUT_TARGET, "state": "s2"},
    )
    assert page.status_code == 200
    assert "web asks to sign you out" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "form-action 'self' https://client.example" in page.headers["content-security-policy"]
    assert await signed_in(aw, flow)
    fields = form_fields(page.text)
    refused = [
        {"ticket": fields["ticket"]},
        {"ticket": fields["ticket"], "csrf_token": "A" * 43},
    ]
    for data in refused:
        response = await flow.http.post("/oauth2/logout", data=data)
        assert response.status_code == 403
        assert "location" not in response.headers
    assert await signed_in(aw, flow)
    response = await flow.http.post("/oauth2/logout", data=fields)
    assert response.status_code == 303
    assert response.headers["location"] == LOGOUT_TARGET + "?state=s2"
    answer = redirected_to_client(await flow.start(auth_params(cid, prompt="none")))
    assert answer["error"] == "login_required"


@sqlite_only
async def test_a_hint_for_another_user_asks_first(aw: Authward, flow: Flow) -> None:
    await flow.sign_in_and_consent(auth_params(await client_id(aw)))
    other = await aw.users.create("bob@example.com", PASSWORD)
    hint = await id_token(aw, sub=other.id)
    page = await flow.http.get("/oauth2/logout", params={"id_token_hint": hint})
    assert page.status_code == 200
    assert "Sign out?" in page.text
    assert await signed_in(aw, flow)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


async def forged_hints(aw: Authward, genuine: str) -> dict[str, str]:
    """Hints made from an RS256 ID token of ours without our private key, and one token of ours
    of another kind."""
    head, payload, signature = genuine.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=="))
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert header["alg"] == "RS256"
    kid = header["kid"]
    jwk = next(k for k in (await aw.jwks())["keys"] if k["kid"] == kid)
    public_pem = RSAKey.import_key(jwk).as_pem(private=False)

    def signed_with(alg: KeyAlg, body: dict[str, Any]) -> str:
        impostor = SigningKey(kid=kid, alg=alg, key=generate_signing_key(alg).key)
        return sign_jwt(impostor, body, typ="JWT")

    confused = f"{_segment({**header, 'alg': 'HS256'})}.{payload}"
    hmac_signature = hmac.new(public_pem, confused.encode(), hashlib.sha256).digest()
    return {
        "alg none": f"{_segment({**header, 'alg': 'none'})}.{payload}.",
        "alg HS256 keyed with our public key": f"{confused}.{_b64(hmac_signature)}",
        "alg swapped, signature kept": (
            f"{_segment({**header, 'alg': 'PS256'})}.{payload}.{signature}"
        ),
        "another RSA key under our kid": signed_with("RS256", claims),
        "an EdDSA key under our RSA kid": signed_with("EdDSA", claims),
        "claims changed, signature kept": (
            f"{head}.{_segment({**claims, 'sub': 'someone-else'})}.{signature}"
        ),
        "signed by us, but not an ID token": sign_jwt(
            await aw.signing_keys.signer(), claims, typ="at+jwt"
        ),
    }


@sqlite_only
async def test_forged_rs256_hints_are_refused(aw: Authward, flow: Flow) -> None:
    genuine = await sign_in_for_id_token(aw, flow)
    for what, hint in (await forged_hints(aw, genuine)).items():
        response = await flow.http.get(
            "/oauth2/logout",
            params={"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_TARGET},
        )
        assert response.status_code == 400, what
        assert "location" not in response.headers
        assert "id_token_hint is not an ID token issued here" in response.text, what
    assert await signed_in(aw, flow)
    response = await flow.http.get(
        "/oauth2/logout",
        params={"id_token_hint": genuine, "post_logout_redirect_uri": LOGOUT_TARGET},
    )
    assert response.status_code == 303
    assert not await signed_in(aw, flow)


@sqlite_only
async def test_plain_get_asks_and_signs_out(aw: Authward, flow: Flow) -> None:
    await flow.sign_in_and_consent(auth_params(await client_id(aw)))
    page = await flow.http.get("/oauth2/logout")
    assert "Do you want to sign out" in page.text
    done = await flow.http.post("/oauth2/logout", data=form_fields(page.text))
    assert done.status_code == 200
    assert "You are signed out." in done.text
    assert "__session_secret" in done.headers.get("set-cookie", "")


def test_post_logout_redirect_uris_are_checked_when_the_app_loads() -> None:
    user = db.type("User", {"email": db.string().unique()})
    with pytest.raises(ConfigError) as caught:
        define_auth(
            "a",
            user_profile={"type": user, "username_field": "email"},
            oauth2_clients={
                "web": {
                    "redirect_uris": [REDIRECT],
                    "post_logout_redirect_uris": ["http://client.example/bye", "relative"],
                }
            },
        )
    message = str(caught.value)
    assert "oauth2_clients['web'].post_logout_redirect_uris[0]" in message
    assert "must use https" in message
    assert "oauth2_clients['web'].post_logout_redirect_uris[1]" in message
