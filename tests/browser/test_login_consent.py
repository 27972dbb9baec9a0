"""The login and consent pages in a real browser: sign in, allow, land on the client's redirect
URI with code, state and iss, and redeem the code with an independent client (Authlib); deny;
and the pages refuse to be framed by another site."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from playwright.sync_api import Browser, expect

from tests.browser.conftest import (
    TIMEOUT_MS,
    USERNAME,
    Catcher,
    Served,
    run_async,
    sign_in,
)


def _oauth(served: Served, catcher: Catcher) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=served.client_id,
        client_secret=served.client_secret,
        redirect_uri=f"{catcher.url}/cb",
        scope="openid profile",
        code_challenge_method="S256",
    )


def _authorization_url(
    served: Served, catcher: Catcher, verifier: str, **extra: str
) -> tuple[str, str]:
    async def make() -> tuple[str, str]:
        async with _oauth(served, catcher) as client:
            url, state = client.create_authorization_url(
                f"{served.url}/oauth2/authorize",
                code_verifier=verifier,
                nonce="n-browser",
                **extra,
            )
            return str(url), str(state)

    return run_async(make())


def test_sign_in_allow_and_redeem_the_code(
    chromium: Browser, served: Served, catcher: Catcher
) -> None:
    verifier = generate_token(64)
    url, state = _authorization_url(served, catcher, verifier)
    context = chromium.new_context(java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    sign_in(page)
    expect(page.get_by_text("browser-app wants to access your account")).to_be_visible()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(re.compile(re.escape(catcher.url) + r"/cb\?"))
    callback = page.url
    answer = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert answer["state"] == state
    assert answer["iss"] == served.url
    assert answer["code"].startswith("awcode_")
    assert any(p.startswith("/cb?code=") for p in catcher.paths)

    async def redeem() -> dict[str, object]:
        async with _oauth(served, catcher) as client:
            token = await client.fetch_token(
                f"{served.url}/oauth2/token",
                authorization_response=callback,
                code_verifier=verifier,
                state=state,
            )
            return dict(token)

    token = run_async(redeem())
    assert token["token_type"] in ("Bearer", "bearer")
    assert isinstance(token["access_token"], str)
    # The ID token verifies from the published JWKS with RS256, the OpenID default (PyJWT).
    id_token = token["id_token"]
    assert isinstance(id_token, str)
    jwks = httpx.get(f"{served.url}/.well-known/jwks.json").json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(id_token)["kid"]]
    claims = jwt.decode(
        id_token, key=key, algorithms=["RS256"], audience=served.client_id, issuer=served.url
    )
    assert claims["azp"] == served.client_id

    # Signed in and consented: the next request goes straight back to the client.
    again, _ = _authorization_url(served, catcher, generate_token(64))
    page.goto(again)
    page.wait_for_url(re.compile(re.escape(catcher.url) + r"/cb\?code="))
    # prompt=login: the login form's POST ends, through redirects, at the client (Chrome checks
    # each of them against the login page's form-action).
    forced, _ = _authorization_url(served, catcher, generate_token(64), prompt="login")
    page.goto(forced)
    sign_in(page)
    page.wait_for_url(re.compile(re.escape(catcher.url) + r"/cb\?code="))
    context.close()


def test_sign_out_after_confirming(chromium: Browser, served: Served, catcher: Catcher) -> None:
    context = chromium.new_context(java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{served.url}/login")
    sign_in(page)
    expect(page.get_by_text(f"You are signed in as {USERNAME}")).to_be_visible()
    page.goto(
        f"{served.url}/oauth2/logout?"
        + urlencode(
            {
                "client_id": served.client_id,
                "post_logout_redirect_uri": f"{catcher.url}/bye",
                "state": "bye-state",
            }
        )
    )
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{catcher.url}/bye?state=bye-state")
    page.goto(f"{served.url}/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    context.close()


def test_deny_returns_access_denied(chromium: Browser, served: Served, catcher: Catcher) -> None:
    # prompt=consent: another test of this module may have allowed the client already.
    url, state = _authorization_url(served, catcher, generate_token(64), prompt="consent")
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    sign_in(page)
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(re.compile(re.escape(catcher.url) + r"/cb\?error="))
    answer = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert answer["error"] == "access_denied"
    assert answer["state"] == state
    assert answer["iss"] == served.url
    context.close()


def test_wrong_password_shows_one_generic_message(
    chromium: Browser, served: Served, catcher: Catcher
) -> None:
    url, _ = _authorization_url(served, catcher, generate_token(64))
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", "not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Incorrect username or password.")
    expect(page.locator("input[name=username]")).to_have_value(USERNAME)
    context.close()


def test_login_page_refuses_to_be_framed(
    chromium: Browser, served: Served, catcher: Catcher
) -> None:
    catcher.frame_target = f"{served.url}/login"
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    refusals: list[str] = []
    page.on("console", lambda message: refusals.append(message.text))
    page.goto(f"{catcher.url}/framed")
    # The control: a frame of the same site loads.
    expect(page.frame_locator("#mine").locator("#inner")).to_have_text("framed fine")
    page.wait_for_timeout(500)
    expect(page.frame_locator("#theirs").locator("input[name=username]")).to_have_count(0)
    assert any("frame-ancestors" in r or "X-Frame-Options" in r for r in refusals), refusals
    context.close()
