""" "Sign in with <provider>" against a real, independent OpenID provider (node-oidc-provider,
tests/peers/oidc-provider/op.js), on SQLite and PostgreSQL.

authward runs in-process (``build_app`` behind httpx's ASGITransport at https://authward.test);
the provider is a Node.js process on a free port. A test "browser" is one httpx client that
follows every redirect by hand, through authward, the provider's login and consent interaction,
and back to authward's callback, keeping each site's cookies as a browser would.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import func, select
from starlette.requests import Request

from authward import Principal, db, define_auth, define_config, idp
from authward.identity.sessions import SECRET_COOKIE
from authward.oauth.upstream import Upstream
from authward.oauth.upstream_values import UpstreamError
from authward.runtime import Authward
from authward.server.app import build_app
from authward.server.browser import browser_session
from authward.server.external_login import PENDING_COOKIE
from authward.store.identities import ExternalIdentities
from authward.store.schema import audit_events, external_identities, users
from tests.conftest import SettingsFactory
from tests.peers import free_port, require_node_peer, running_node_peer

AUTHWARD = "https://authward.test"
PROVIDER = "test-op"
CALLBACK = f"{AUTHWARD}/login/external/{PROVIDER}/callback"
CLIENT_ID = "authward-login-client"
CLIENT_SECRET = "authward-login-secret-authward-login-secret"
OP_ENV = {
    "OIDC_TEST_CLIENT_ID": CLIENT_ID,
    "OIDC_TEST_CLIENT_SECRET": CLIENT_SECRET,
    "OIDC_TEST_REDIRECT_URI": CALLBACK,
}
PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


def only_admins_make_admins(user: Principal | None, value: object, **_: object) -> bool:
    return value != "ADMIN" or (user is not None and user.attributes.get("role") == "ADMIN")


USER = (
    db.type(
        "User",
        {
            "email": db.string().unique(),
            "display_name": db.string().optional(),
            "role": db.enum(["ADMIN", "READER", "USER"]),
        },
    )
    .hooks(role={"create": lambda user, value, **_: value or "USER"})
    .validate(role=[(only_admins_make_admins, "only admins can make admins")])
)


# -- the providers ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def op() -> Iterator[str]:
    require_node_peer()
    with running_node_peer("op.js", OP_ENV) as issuer:
        yield issuer


@pytest.fixture(scope="session")
def other_op() -> Iterator[str]:
    """A second, independent provider with the same client registration: another issuer."""
    require_node_peer()
    with running_node_peer("op.js", OP_ENV) as issuer:
        yield issuer


# -- authward --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Site:
    aw: Authward
    browsers: list[httpx.AsyncClient]

    def browser(self) -> httpx.AsyncClient:
        """A new browser: its own cookies; authward in-process, the provider over HTTP."""
        transport = httpx.ASGITransport(app=build_app(self.aw))
        client = httpx.AsyncClient(mounts={AUTHWARD: transport}, timeout=30)
        self.browsers.append(client)
        return client


SiteFactory = Callable[..., Awaitable[Site]]


@asynccontextmanager
async def sites(url: str, settings_for: SettingsFactory, op: str) -> AsyncIterator[SiteFactory]:
    opened: list[Site] = []

    async def make(oauth2_clients: Any = None, **provider: Any) -> Site:
        options: dict[str, Any] = {
            "issuer": op,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "claims": {"name": "display_name", "role": "role"},
        }
        options.update(provider)
        auth = define_auth(
            "ext-auth",
            user_profile={"type": USER, "username_field": "email", "attributes": {"role": True}},
            id_provider=idp.provider(PROVIDER, "web", **options),
            oauth2_clients=oauth2_clients,
        )
        config = define_config(auth=auth, db=[USER])
        settings = settings_for(url, issuer=AUTHWARD)
        site = Site(await Authward.open(config, settings, migrate=True), [])
        opened.append(site)
        return site

    try:
        yield make
    finally:
        for site in opened:
            for browser in site.browsers:
                await browser.aclose()
            await site.aw.close()


@pytest.fixture
async def make_site(
    database_url: str, settings_for: SettingsFactory, op: str
) -> AsyncIterator[SiteFactory]:
    """Sites on SQLite and PostgreSQL: for the tests that sign in (they write users and audit)."""
    async with sites(database_url, settings_for, op) as make:
        yield make


@pytest.fixture
async def site(make_site: SiteFactory) -> Site:
    return await make_site()


@pytest.fixture
async def make_sqlite_site(
    tmp_path: Path, settings_for: SettingsFactory, op: str
) -> AsyncIterator[SiteFactory]:
    """For the tests that only start a sign-in: nothing of theirs depends on the database."""
    async with sites(f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}", settings_for, op) as make:
        yield make


@pytest.fixture
async def sqlite_site(make_sqlite_site: SiteFactory) -> Site:
    return await make_sqlite_site()


# -- the browser's walk ------------------------------------------------------------------------


def claims_for(name: str, *, verified: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "email": f"{name}@example.com",
        "email_verified": verified,
        "name": name.title(),
        **extra,
    }


def location(response: httpx.Response) -> str:
    return urljoin(str(response.url), response.headers["location"])


async def through_provider(
    browser: httpx.AsyncClient,
    response: httpx.Response,
    *,
    sub: str,
    claims: dict[str, Any],
    deny: bool = False,
) -> str:
    """Follow redirects and answer the provider's prompts until it sends the browser back to
    authward's callback; returns that URL (not yet visited)."""
    for _ in range(20):
        if response.is_redirect:
            url = location(response)
            if url.startswith(CALLBACK):
                return url
            response = await browser.get(url)
            continue
        assert response.status_code == 200, response.text
        prompt = re.search(r'data-prompt="(\w+)"', response.text)
        assert prompt is not None, response.text
        uid = urlsplit(str(response.url)).path.rsplit("/", 1)[-1]
        base = f"{response.url.scheme}://{response.url.netloc.decode()}/interaction/{uid}"
        if deny:
            response = await browser.post(f"{base}/abort")
        elif prompt.group(1) == "login":
            form = {"sub": sub, "claims": json.dumps(claims)}
            response = await browser.post(f"{base}/login", data=form)
        else:
            response = await browser.post(f"{base}/confirm")
    raise AssertionError("the provider never sent the browser back")


async def start(browser: httpx.AsyncClient, return_to: str = "/after?x=1") -> httpx.Response:
    response = await browser.get(
        f"{AUTHWARD}/login/external/{PROVIDER}", params={"return_to": return_to}
    )
    assert response.status_code == 303, response.text
    return response


async def callback_url(
    browser: httpx.AsyncClient, sub: str, claims: dict[str, Any], **kw: Any
) -> str:
    return await through_provider(browser, await start(browser), sub=sub, claims=claims, **kw)


async def sign_in(browser: httpx.AsyncClient, sub: str, claims: dict[str, Any]) -> httpx.Response:
    return await browser.get(await callback_url(browser, sub, claims))


async def signed_in_as(aw: Authward, browser: httpx.AsyncClient) -> str | None:
    """Who authward's session cookie in this browser belongs to."""
    secret = browser.cookies.get(SECRET_COOKIE, domain="authward.test")
    if secret is None:
        return None
    cookie = f"{SECRET_COOKIE}={secret}".encode()
    request = Request({"type": "http", "headers": [(b"cookie", cookie)]})
    info = await browser_session(aw.sessions, request)
    return info.user_id if info else None


async def count(aw: Authward, table: Any) -> int:
    async with aw.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def audit(aw: Authward, kind: str) -> list[dict[str, Any]]:
    query = select(audit_events).where(audit_events.c.kind == kind).order_by(audit_events.c.id)
    async with aw.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


def assert_page_headers(response: httpx.Response) -> None:
    for name, value in PAGE_HEADERS.items():
        assert response.headers[name] == value
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


async def assert_refused(
    site: Site, response: httpx.Response, status: int, reason: str, text: str
) -> None:
    assert response.status_code == status, response.text
    assert text in response.text
    assert "location" not in response.headers
    assert_page_headers(response)
    failed = await audit(site.aw, "login.external.failed")
    assert failed[-1]["detail"] == {"provider": PROVIDER, "reason": reason}


# -- signing in ----------------------------------------------------------------------------------


async def test_first_login_creates_the_user_and_signs_the_browser_in(site: Site) -> None:
    browser = site.browser()
    response = await sign_in(browser, "op-alice", claims_for("alice"))
    assert response.status_code == 303
    assert response.headers["location"] == "/after?x=1"
    assert_page_headers(response)
    user = await site.aw.users.find("alice@example.com")
    assert user is not None
    assert await signed_in_as(site.aw, browser) == user.id
    claims = await site.aw.users.claims(user.id)
    assert claims is not None
    # Mapped from the provider's claims; the type's create hook still gave the default role.
    assert claims.profile["display_name"] == "Alice"
    assert claims.profile["role"] == "USER"
    assert claims.email_verified is True
    # The pending sign-in is single use: its cookie is gone.
    assert browser.cookies.get(PENDING_COOKIE) is None
    session_claims = await site.aw.sessions.list(user.id)
    assert [s.claims["amr"] for s in session_claims] == [[f"external:{PROVIDER}"]]
    succeeded = await audit(site.aw, "login.external.succeeded")
    assert [(e["subject"], e["detail"]["outcome"]) for e in succeeded] == [(user.id, "created")]
    link = await ExternalIdentities(site.aw.engine, audit=site.aw.audit).find(PROVIDER, "op-alice")
    assert link is not None
    assert (link.user_id, link.email) == (user.id, "alice@example.com")


async def test_unverified_email_creates_an_unverified_user(site: Site) -> None:
    response = await sign_in(site.browser(), "op-dan", claims_for("dan", verified=False))
    assert response.status_code == 303
    user = await site.aw.users.find("dan@example.com")
    assert user is not None
    claims = await site.aw.users.claims(user.id)
    assert claims is not None
    assert claims.email_verified is False


async def test_second_login_reuses_the_link(site: Site) -> None:
    first = site.browser()
    assert (await sign_in(first, "op-bob", claims_for("bob"))).status_code == 303
    # Again in the same browser (the provider remembers the sign-in and consent) and in another.
    again = await sign_in(first, "op-bob", claims_for("bob"))
    elsewhere = site.browser()
    other = await sign_in(elsewhere, "op-bob", claims_for("bob"))
    assert again.status_code == other.status_code == 303
    user = await site.aw.users.find("bob@example.com")
    assert user is not None
    assert await signed_in_as(site.aw, first) == user.id
    assert await signed_in_as(site.aw, elsewhere) == user.id
    assert await count(site.aw, users) == 1
    assert await count(site.aw, external_identities) == 1
    outcomes = [e["detail"]["outcome"] for e in await audit(site.aw, "login.external.succeeded")]
    assert outcomes == ["created", "existing", "existing"]


async def test_login_follows_the_subject_not_the_email(site: Site) -> None:
    """The link is to the provider's sub: a changed email upstream still signs in the same user."""
    await sign_in(site.browser(), "op-erin", claims_for("erin"))
    browser = site.browser()
    response = await sign_in(browser, "op-erin", claims_for("erin.new"))
    assert response.status_code == 303
    user = await site.aw.users.find("erin@example.com")
    assert user is not None
    assert await signed_in_as(site.aw, browser) == user.id
    assert await site.aw.users.find("erin.new@example.com") is None


async def test_client_secret_post(make_site: SiteFactory) -> None:
    site = await make_site(client_id=f"{CLIENT_ID}-post", token_auth_method="client_secret_post")
    browser = site.browser()
    assert (await sign_in(browser, "op-post", claims_for("post"))).status_code == 303
    assert await signed_in_as(site.aw, browser) is not None


async def test_authorization_request_resumes_after_signing_in_upstream(
    make_site: SiteFactory,
) -> None:
    """The whole path: a client's authorization request, authward's login page, its "Sign in
    with" link, the provider, back to the request, consent, and a code for the client."""
    client_redirect = "https://client.example/cb"
    site = await make_site(oauth2_clients={"web": {"redirect_uris": [client_redirect]}})
    client = await site.aw.clients.get("web")
    assert client is not None
    browser = site.browser()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=")
    response = await browser.get(
        f"{AUTHWARD}/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client_redirect,
            "scope": "openid",
            "state": "client-state",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        },
    )
    login_page = await browser.get(location(response))
    link = re.search(r'href="(/login/external/[^"]+)"', login_page.text)
    assert link is not None, login_page.text
    assert f"Sign in with {PROVIDER}" in login_page.text
    response = await browser.get(AUTHWARD + html.unescape(link.group(1)))
    assert response.status_code == 303
    url = await through_provider(browser, response, sub="op-rita", claims=claims_for("rita"))
    response = await browser.get(url)
    assert response.headers["location"].startswith("/oauth2/authorize/continue?")
    consent = await browser.get(location(response))
    assert "Allow access?" in consent.text, consent.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', consent.text))
    response = await browser.post(
        f"{AUTHWARD}/consent",
        data={**{k: html.unescape(v) for k, v in fields.items()}, "decision": "allow"},
    )
    assert response.status_code == 303
    back = urlsplit(response.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == client_redirect
    answer = dict(parse_qsl(back.query))
    assert answer["state"] == "client-state"
    assert answer["code"]
    assert answer["iss"] == AUTHWARD


# -- existing local users ------------------------------------------------------------------------


async def test_existing_user_with_verified_email_is_linked_when_enabled(
    make_site: SiteFactory,
) -> None:
    site = await make_site(link_by_verified_email=True)
    carol = await site.aw.users.create("carol@example.com", "carols password")
    browser = site.browser()
    response = await sign_in(browser, "op-carol", claims_for("carol"))
    assert response.status_code == 303
    assert await signed_in_as(site.aw, browser) == carol.id
    assert await count(site.aw, users) == 1
    [linked] = await audit(site.aw, "user.linked")
    assert linked["subject"] == carol.id
    assert linked["detail"] == {"provider": PROVIDER, "external_subject": "op-carol"}
    # From now on the link decides, without looking at the email again.
    response = await sign_in(site.browser(), "op-carol", claims_for("carol", verified=False))
    assert response.status_code == 303


@pytest.mark.parametrize(
    ("linking", "verified", "reason"),
    [(False, True, "account_exists"), (True, False, "email_not_verified")],
)
async def test_existing_user_is_never_taken_over(
    make_site: SiteFactory, linking: bool, verified: bool, reason: str
) -> None:
    site = await make_site(link_by_verified_email=linking)
    await site.aw.users.create("frank@example.com", "franks password")
    browser = site.browser()
    response = await sign_in(browser, "op-frank", claims_for("frank", verified=verified))
    await assert_refused(site, response, 403, reason, "already exists")
    assert await signed_in_as(site.aw, browser) is None
    assert await count(site.aw, external_identities) == 0
    assert await audit(site.aw, "user.linked") == []


async def test_disabled_user_is_refused(site: Site) -> None:
    await sign_in(site.browser(), "op-gina", claims_for("gina"))
    await site.aw.users.disable("gina@example.com")
    browser = site.browser()
    response = await sign_in(browser, "op-gina", claims_for("gina"))
    await assert_refused(site, response, 403, "user_disabled", "disabled")
    assert await signed_in_as(site.aw, browser) is None


async def test_profile_refused_by_the_app_writes_nothing(site: Site) -> None:
    browser = site.browser()
    response = await sign_in(browser, "op-mallory", claims_for("mallory", role="ADMIN"))
    await assert_refused(site, response, 400, "profile_invalid", "only admins can make admins")
    assert await count(site.aw, users) == 0
    assert await count(site.aw, site.aw.records(USER).table) == 0
    assert await count(site.aw, external_identities) == 0
    assert await signed_in_as(site.aw, browser) is None


async def test_missing_username_claim_is_refused(site: Site) -> None:
    response = await sign_in(site.browser(), "op-anon", {"name": "Anon"})
    await assert_refused(site, response, 400, "no_username", "email")
    assert await count(site.aw, users) == 0


# -- the authorization response ------------------------------------------------------------------


def with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.mark.parametrize(
    "change",
    [{"state": "forged-state"}, {"state": None}, {"state": ""}],
    ids=["tampered", "missing", "empty"],
)
async def test_state_must_match(site: Site, change: dict[str, str | None]) -> None:
    browser = site.browser()
    url = await callback_url(browser, "op-hank", claims_for("hank"))
    response = await browser.get(with_query(url, **change))
    await assert_refused(site, response, 400, "state_mismatch", "does not belong")
    assert await count(site.aw, users) == 0
    # The pending sign-in is spent either way: the genuine response cannot be used afterwards.
    response = await browser.get(url)
    await assert_refused(site, response, 400, "no_pending_login", "start again")


async def test_repeated_state_is_refused(site: Site) -> None:
    browser = site.browser()
    url = await callback_url(browser, "op-ivy", claims_for("ivy"))
    state = dict(parse_qsl(urlsplit(url).query))["state"]
    response = await browser.get(f"{url}&{urlencode({'state': state})}")
    await assert_refused(site, response, 400, "repeated_parameter", "repeats")


async def test_replayed_callback_is_refused(site: Site) -> None:
    browser = site.browser()
    url = await callback_url(browser, "op-jack", claims_for("jack"))
    pending = browser.cookies.get(PENDING_COOKIE)
    assert pending is not None
    assert (await browser.get(url)).status_code == 303
    user = await site.aw.users.find("jack@example.com")
    assert user is not None
    # The same browser again: the pending sign-in was used up.
    replay = site.browser()
    response = await replay.get(url)
    await assert_refused(site, response, 400, "no_pending_login", "start again")
    # Someone who also kept the pending cookie: the provider's code is single use.
    replay.cookies.set(PENDING_COOKIE, pending, domain="authward.test")
    response = await replay.get(url)
    await assert_refused(site, response, 400, "token_error", "refused")
    assert await signed_in_as(site.aw, replay) is None
    assert len(await site.aw.sessions.list(user.id)) == 1


async def test_response_for_another_browser_is_refused(site: Site) -> None:
    """Login CSRF: a victim's browser is made to finish the attacker's sign-in."""
    attacker, victim = site.browser(), site.browser()
    url = await callback_url(attacker, "op-attacker", claims_for("attacker"))
    # The victim has no sign-in pending...
    response = await victim.get(url)
    await assert_refused(site, response, 400, "no_pending_login", "not started in this browser")
    # ...or one of its own, with another state.
    await start(victim)
    response = await victim.get(url)
    await assert_refused(site, response, 400, "state_mismatch", "does not belong")
    assert await signed_in_as(site.aw, victim) is None
    assert await count(site.aw, users) == 0


async def test_tampered_pending_cookie_is_refused(site: Site) -> None:
    browser = site.browser()
    url = await callback_url(browser, "op-kim", claims_for("kim"))
    sealed = browser.cookies.get(PENDING_COOKIE)
    assert sealed is not None
    raw = bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))
    raw[-1] ^= 1
    browser.cookies.set(
        PENDING_COOKIE, base64.urlsafe_b64encode(bytes(raw)).decode(), domain="authward.test"
    )
    response = await browser.get(url)
    await assert_refused(site, response, 400, "no_pending_login", "start again")


async def test_user_denies_at_the_provider(site: Site) -> None:
    browser = site.browser()
    url = await callback_url(browser, "op-lee", claims_for("lee"), deny=True)
    assert dict(parse_qsl(urlsplit(url).query))["error"] == "access_denied"
    response = await browser.get(url)
    await assert_refused(site, response, 400, "provider_denied", "cancelled")
    assert await count(site.aw, users) == 0


async def test_response_from_another_provider_is_refused(site: Site, other_op: str) -> None:
    """Mix-up (RFC 9207): the browser was sent to another provider, which answers with its iss."""
    browser = site.browser()
    authorization = urlsplit(location(await start(browser)))
    elsewhere = urlsplit(other_op)._replace(path=authorization.path, query=authorization.query)
    response = await browser.get(urlunsplit(elsewhere))
    url = await through_provider(browser, response, sub="op-mia", claims=claims_for("mia"))
    assert dict(parse_qsl(urlsplit(url).query))["iss"] == other_op
    response = await browser.get(url)
    await assert_refused(site, response, 400, "issuer_mismatch", "did not come from")
    assert await count(site.aw, users) == 0


async def test_response_without_iss_is_refused(site: Site) -> None:
    """The provider advertises the iss parameter, so a response without one is not trusted."""
    browser = site.browser()
    url = await callback_url(browser, "op-ned", claims_for("ned"))
    response = await browser.get(with_query(url, iss=None))
    await assert_refused(site, response, 400, "issuer_mismatch", "did not come from")


# -- the ID token (Upstream directly, with real tokens from the provider) --------------------


async def code_for(browser: httpx.AsyncClient, authorization_url: str, sub: str) -> str:
    response = await browser.get(authorization_url)
    url = await through_provider(browser, response, sub=sub, claims=claims_for(sub))
    return dict(parse_qsl(urlsplit(url).query))["code"]


async def test_id_token_from_another_sign_in_is_refused(op: str) -> None:
    """An ID token whose nonce belongs to another sign-in (ID token injection) is refused."""
    provider = idp.provider(
        PROVIDER, "web", issuer=op, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    upstream = Upstream(provider, CALLBACK)
    _, first = await upstream.begin("/")
    url, second = await upstream.begin("/")
    async with httpx.AsyncClient() as browser:
        code = await code_for(browser, url, "op-olga")
    with pytest.raises(UpstreamError) as refused:
        # The second sign-in's code and verifier, but the first one's nonce.
        await upstream.redeem(code, dataclasses.replace(second, nonce=first.nonce))
    assert refused.value.reason == "id_token_invalid"
    assert "not issued for this sign-in" in str(refused.value)


async def test_id_token_for_another_client_is_refused(op: str) -> None:
    post_client = idp.provider(
        PROVIDER,
        "web",
        issuer=op,
        client_id=f"{CLIENT_ID}-post",
        client_secret=CLIENT_SECRET,
        token_auth_method="client_secret_post",
    )
    ours = idp.provider(PROVIDER, "web", issuer=op, client_id=CLIENT_ID)
    url, pending = await Upstream(post_client, CALLBACK).begin("/")
    async with httpx.AsyncClient() as browser:
        code = await code_for(browser, url, "op-pat")
        tokens = await browser.post(
            f"{op}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "code_verifier": pending.code_verifier,
                "client_id": f"{CLIENT_ID}-post",
                "client_secret": CLIENT_SECRET,
            },
        )
    id_token = tokens.json()["id_token"]
    assert await Upstream(post_client, CALLBACK).verify_id_token(id_token, nonce=pending.nonce)
    with pytest.raises(UpstreamError, match="meant for another client"):
        await Upstream(ours, CALLBACK).verify_id_token(id_token, nonce=pending.nonce)
    # One changed byte in the payload: the signature no longer fits.
    header, payload, signature = id_token.split(".")
    forged = ".".join(
        (header, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1:], signature)
    )
    with pytest.raises(UpstreamError, match="signature is not valid"):
        await Upstream(post_client, CALLBACK).verify_id_token(forged, nonce=pending.nonce)


# -- starting a sign-in ---------------------------------------------------------------------------


async def test_start_redirects_to_the_provider_with_pkce_state_and_nonce(
    sqlite_site: Site, op: str
) -> None:
    browser = sqlite_site.browser()
    response = await start(browser, "/somewhere?a=1&b=2")
    assert_page_headers(response)
    url = urlsplit(location(response))
    assert f"{url.scheme}://{url.netloc}" == op
    query = dict(parse_qsl(url.query))
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 43
    assert len(query["nonce"]) >= 43
    # The pending sign-in is sealed: nothing of it is readable in the cookie.
    cookie = next(c for c in browser.cookies.jar if c.name == PENDING_COOKIE)
    assert cookie.path == f"/login/external/{PROVIDER}/callback"
    assert cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert query["state"] not in (cookie.value or "")
    header = response.headers["set-cookie"]
    assert "samesite=lax" in header.lower()


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\/evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
        "/" + "a" * 3000,
    ],
)
async def test_open_redirect_return_to_is_refused(sqlite_site: Site, return_to: str) -> None:
    browser = sqlite_site.browser()
    response = await browser.get(
        f"{AUTHWARD}/login/external/{PROVIDER}", params={"return_to": return_to}
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert browser.cookies.get(PENDING_COOKIE) is None
    assert "must be a page of this service" in response.text
    assert_page_headers(response)


async def test_repeated_return_to_is_refused(sqlite_site: Site) -> None:
    response = await sqlite_site.browser().get(
        f"{AUTHWARD}/login/external/{PROVIDER}?return_to=/a&return_to=https://evil.example/"
    )
    assert response.status_code == 400


async def test_unknown_provider_is_not_found(sqlite_site: Site) -> None:
    browser = sqlite_site.browser()
    for path in ("/login/external/other", "/login/external/other/callback"):
        response = await browser.get(AUTHWARD + path)
        assert response.status_code == 404
        assert_page_headers(response)


async def test_provider_with_another_issuer_is_unavailable(
    make_sqlite_site: SiteFactory, op: str
) -> None:
    """Discovery says the provider's issuer is 127.0.0.1:port, not localhost:port: not ours."""
    site = await make_sqlite_site(issuer=op.replace("127.0.0.1", "localhost"))
    response = await site.browser().get(f"{AUTHWARD}/login/external/{PROVIDER}")
    assert response.status_code == 502
    assert "cannot be reached" in response.text
    assert_page_headers(response)


async def test_unreachable_provider_is_a_502_without_details(
    make_sqlite_site: SiteFactory,
) -> None:
    site = await make_sqlite_site(issuer=f"http://127.0.0.1:{free_port()}")
    browser = site.browser()
    for path in ("", "/callback?code=c&state=s"):
        response = await browser.get(f"{AUTHWARD}/login/external/{PROVIDER}{path}")
        assert response.status_code == 502
        assert "cannot be reached right now" in response.text
        assert "127.0.0.1" not in response.text
        assert_page_headers(response)
    [failed] = await audit(site.aw, "login.external.failed")
    assert failed["detail"] == {"provider": PROVIDER, "reason": "provider_unavailable"}


async def test_no_routes_without_an_id_provider(sqlite_runtime: Authward) -> None:
    transport = httpx.ASGITransport(app=build_app(sqlite_runtime))
    async with httpx.AsyncClient(transport=transport, base_url=AUTHWARD) as client:
        response = await client.get(f"/login/external/{PROVIDER}")
    assert response.status_code == 404


async def test_secrets_stay_out_of_logs_and_pages(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    browser = site.browser()
    url = await callback_url(browser, "op-quinn", claims_for("quinn"))
    params = dict(parse_qsl(urlsplit(url).query))
    response = await browser.get(url)
    replayed = await site.browser().get(url)
    secret = browser.cookies.get(SECRET_COOKIE, domain="authward.test")
    assert secret is not None
    # Ours only: the test browser's own httpx logs the URLs it visits.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("authward"))
    assert "external login via test-op refused: no_pending_login" in ours
    for value in (params["code"], params["state"], CLIENT_SECRET, secret):
        assert value not in ours
        assert value not in replayed.text
        assert value not in response.headers.get("location", "")
