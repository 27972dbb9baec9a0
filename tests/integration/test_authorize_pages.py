"""The login and consent pages on SQLite and PostgreSQL: prompt and max_age, consent remembered,
re-asked, denied and revoked, CSRF and ticket checks, failed and throttled logins, audit events,
and the headers that keep the pages out of frames and caches."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from authward.config.idp import provider
from authward.runtime import Authward
from authward.server.forms import CSRF_COOKIE
from authward.store.schema import sessions
from authward.tokens import opaque
from tests.conftest import SettingsFactory
from tests.integration.authorize_support import (
    PASSWORD,
    USERNAME,
    Flow,
    auth_params,
    browser,
    browser_config,
    client_id,
    form_fields,
    query,
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


async def kinds(aw: Authward) -> list[str]:
    return [e.kind for e in reversed(await aw.audit.recent(200))]


async def assert_one_login_for_the_session(aw: Authward, flow: Flow, client: str | None) -> None:
    """One ``user.login`` row, naming the browser's new session and the waiting client."""
    [login] = await aw.audit.recent(kind="user.login")
    session = await aw.sessions.session_of(flow.http.cookies["__session_secret"])
    assert (login.subject, login.client_id) == (session.user_id, client)
    assert login.detail == {"session_id": session.id, "method": "pwd"}


async def age_sessions(aw: Authward, seconds: int) -> None:
    """Pretend every session started ``seconds`` ago."""
    async with aw.engine.begin() as conn:
        await conn.execute(
            update(sessions).values(created_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )


# -- consent ------------------------------------------------------------------------------------


async def test_consent_is_remembered_and_asked_again_for_new_scopes(
    aw: Authward, flow: Flow
) -> None:
    cid = await client_id(aw)
    redirected_to_client(await flow.sign_in_and_consent(auth_params(cid)))
    # Same scopes (or fewer): straight back to the client.
    assert "code" in redirected_to_client(await flow.start(auth_params(cid, scope="openid")))
    # A scope never allowed: the consent page again, listing it.
    page = await flow.start(auth_params(cid, scope="openid email"))
    assert page.status_code == 200
    assert "Read your email address" in page.text
    redirected_to_client(await flow.consent(page))
    account = await aw.users.find(USERNAME)
    assert account is not None
    consent = await aw.consents.get(account.id, cid)
    assert consent is not None
    assert set(consent.scopes) == {"openid", "profile", "email"}
    # prompt=consent asks even when everything was allowed.
    page = await flow.start(auth_params(cid, scope="openid", prompt="consent"))
    assert "Allow access?" in page.text
    assert (await kinds(aw)).count("consent.granted") == 2


@sqlite_only
async def test_consent_page_shows_the_client_escaped(aw: Authward, flow: Flow) -> None:
    page = await flow.follow(
        await flow.login(await flow.follow(await flow.start(auth_params(await client_id(aw)))))
    )
    assert "<strong>web</strong> wants to access your account" in page.text
    assert "The &lt;b&gt;web&lt;/b&gt; app" in page.text
    assert "Signed in as ada@example.com" in page.text


async def test_deny_sends_access_denied_and_remembers_nothing(aw: Authward, flow: Flow) -> None:
    cid = await client_id(aw)
    params = auth_params(cid)
    page = await flow.follow(await flow.login(await flow.follow(await flow.start(params))))
    answer = redirected_to_client(await flow.consent(page, "deny"))
    assert answer == {
        "error": "access_denied",
        "error_description": "the user denied the request",
        "state": params["state"],
        "iss": aw.issuer,
    }
    assert "consent.denied" in await kinds(aw)
    assert (await flow.start(auth_params(cid))).status_code == 200  # asked again


async def test_revoked_consent_is_asked_again(aw: Authward, flow: Flow) -> None:
    cid = await client_id(aw)
    redirected_to_client(await flow.sign_in_and_consent(auth_params(cid)))
    account = await aw.users.find(USERNAME)
    assert account is not None
    assert [c.client_id for c in await aw.consents.list(account.id)] == [cid]
    assert await aw.consents.revoke(account.id, cid, actor="admin")
    assert not await aw.consents.revoke(account.id, cid)
    assert await aw.consents.list(account.id) == []
    page = await flow.start(auth_params(cid))
    assert "Allow access?" in page.text
    answer = redirected_to_client(await flow.start(auth_params(cid, prompt="none")))
    assert answer["error"] == "consent_required"
    assert "consent.revoked" in await kinds(aw)


# -- prompt and max_age -------------------------------------------------------------------------


async def test_prompt_login_signs_in_again_once(aw: Authward, flow: Flow) -> None:
    cid = await client_id(aw)
    redirected_to_client(await flow.sign_in_and_consent(auth_params(cid)))
    first = await aw.oauth.grants.get(
        opaque.digest(redirected_to_client(await flow.start(auth_params(cid)))["code"])
    )
    for prompt in ("login", "select_account"):
        response = await flow.start(auth_params(cid, prompt=prompt))
        assert response.headers["location"].startswith("/login?ticket=")
        back = await flow.login(await flow.follow(response))
        # Back from the login page the request goes through: no second login page.
        answer = redirected_to_client(await flow.follow(back))
        grant = await aw.oauth.grants.get(opaque.digest(answer["code"]))
        assert grant is not None
        assert first is not None
        assert grant.data["session_id"] != first.data["session_id"]


async def test_max_age_asks_for_a_fresh_login_and_carries_auth_time(
    aw: Authward, flow: Flow
) -> None:
    cid = await client_id(aw)
    redirected_to_client(await flow.sign_in_and_consent(auth_params(cid)))
    await age_sessions(aw, 600)
    # Young enough: no login.
    answer = redirected_to_client(await flow.start(auth_params(cid, max_age="3600")))
    grant = await aw.oauth.grants.get(opaque.digest(answer["code"]))
    assert grant is not None
    assert time.time() - grant.data["auth_time"] >= 599
    # Too old: sign in again; the new login's time goes into the code.
    answer = redirected_to_client(await flow.start(auth_params(cid, max_age="300", prompt="none")))
    assert answer["error"] == "login_required"
    response = await flow.start(auth_params(cid, max_age="300"))
    assert response.headers["location"].startswith("/login?ticket=")
    answer = redirected_to_client(await flow.follow(await flow.login(await flow.follow(response))))
    grant = await aw.oauth.grants.get(opaque.digest(answer["code"]))
    assert grant is not None
    assert time.time() - grant.data["auth_time"] < 60


@sqlite_only
async def test_a_disabled_user_must_sign_in_again(aw: Authward, flow: Flow) -> None:
    cid = await client_id(aw)
    redirected_to_client(await flow.sign_in_and_consent(auth_params(cid)))
    await aw.users.disable(USERNAME)
    answer = redirected_to_client(await flow.start(auth_params(cid, prompt="none")))
    assert answer["error"] == "login_required"


# -- login --------------------------------------------------------------------------------------


@sqlite_only
async def test_failed_logins_look_the_same_and_are_audited_without_secrets(
    aw: Authward, flow: Flow
) -> None:
    page = await flow.follow(await flow.start(auth_params(await client_id(aw))))
    wrong = await flow.login(page, password="wrong password!")
    unknown = await flow.login(page, username="nobody@example.com", password="wrong password!")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Incorrect username or password." in response.text
        assert "__session_secret" not in response.headers.get("set-cookie", "")
    assert wrong.text.replace(USERNAME, "X") == unknown.text.replace("nobody@example.com", "X")
    events = [e for e in await aw.audit.recent(50) if e.kind == "login.failed"]
    assert len(events) == 2
    for e in events:
        assert "wrong password!" not in repr(e)
        assert "nobody@example.com" not in repr(e)


@sqlite_only
async def test_throttled_login_says_try_again_later(aw: Authward, flow: Flow) -> None:
    page = await flow.follow(await flow.start(auth_params(await client_id(aw))))
    statuses = [
        (await flow.login(page, password=f"wrong password {i}")).status_code for i in range(6)
    ]
    assert statuses[0] == 401
    throttled = await flow.login(page)  # even the right password waits
    assert throttled.status_code == 429
    assert "Try again later" in throttled.text
    assert int(throttled.headers["retry-after"]) > 0


@sqlite_only
async def test_login_without_a_request_shows_who_is_signed_in(aw: Authward, flow: Flow) -> None:
    response = await flow.login(await flow.http.get("/login"))
    assert response.headers["location"] == "/login"
    page = await flow.http.get("/login")
    assert "You are signed in as <strong>ada@example.com</strong>" in page.text
    await assert_one_login_for_the_session(aw, flow, client=None)


@sqlite_only
async def test_login_for_a_client_is_audited_with_the_client(aw: Authward, flow: Flow) -> None:
    cid = await client_id(aw)
    await flow.login(await flow.follow(await flow.start(auth_params(cid))))
    await assert_one_login_for_the_session(aw, flow, client=cid)


@sqlite_only
async def test_login_goes_back_to_the_page_that_asked_for_it(aw: Authward, flow: Flow) -> None:
    page = await flow.http.get("/login", params={"return_to": "/dashboard?job=a&status=failed"})
    response = await flow.login(page)
    assert response.headers["location"] == "/dashboard?job=a&status=failed"
    # Already signed in: straight back.
    again = await flow.http.get("/login", params={"return_to": "/dashboard"})
    assert again.status_code == 303
    assert again.headers["location"] == "/dashboard"


@sqlite_only
@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
async def test_login_never_goes_back_to_another_site(aw: Authward, flow: Flow, target: str) -> None:
    page = await flow.http.get("/login", params={"return_to": target})
    assert form_fields(page.text)["return_to"] == ""
    # Even a forged hidden field is ignored.
    fields = {**form_fields(page.text), "return_to": target}
    response = await flow.http.post(
        "/login", data={**fields, "username": USERNAME, "password": PASSWORD}
    )
    assert response.headers["location"] == "/login"


@sqlite_only
async def test_sign_in_with_the_external_provider_is_offered(
    database_url: str, settings_for: SettingsFactory
) -> None:
    corp = provider("corp", "web", issuer="https://idp.example.com", client_id="authward")
    aw = await Authward.open(
        browser_config(id_provider=corp), settings_for(database_url), migrate=True
    )
    try:
        await aw.users.create(USERNAME, PASSWORD)
        async with browser(aw) as http:
            flow = Flow(http)
            page = await flow.follow(await flow.start(auth_params(await client_id(aw))))
            assert "Sign in with corp" in page.text
            href = page.text.split('<a href="')[1].split('"')[0].replace("&amp;", "&")
            assert href.startswith("/login/external/corp?return_to=")
            return_to = query(href)["return_to"][0]
            assert return_to.startswith("/oauth2/authorize/continue?ticket=")
            # Signed in some other way, the request goes on from return_to.
            await flow.login(await http.get("/login"))
            consent = await http.get(return_to)
            assert "Allow access?" in consent.text
    finally:
        await aw.close()


# -- CSRF and tickets ---------------------------------------------------------------------------


@sqlite_only
async def test_login_form_needs_its_csrf_token(aw: Authward, flow: Flow) -> None:
    page = await flow.follow(await flow.start(auth_params(await client_id(aw))))
    fields = form_fields(page.text)
    creds = {"username": USERNAME, "password": PASSWORD, "ticket": fields["ticket"]}
    missing = await flow.http.post("/login", data=creds)
    wrong = await flow.http.post("/login", data={**creds, "csrf_token": "A" * 43})
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "__session_secret" not in response.headers.get("set-cookie", "")
    # A token from another browser does not fit this browser's cookie.
    async with browser(aw) as other_http:
        other = Flow(other_http)
        other_page = await other.follow(await other.start(auth_params(await client_id(aw))))
        stolen = form_fields(other_page.text)["csrf_token"]
    assert (await flow.http.post("/login", data={**creds, "csrf_token": stolen})).status_code == 403
    # No cookie at all (a cross-site form post without the browser's cookie).
    flow.http.cookies.delete(CSRF_COOKIE)
    response = await flow.http.post("/login", data={**creds, "csrf_token": fields["csrf_token"]})
    assert response.status_code == 403
    assert "user.login" not in await kinds(aw)


@sqlite_only
async def test_consent_form_needs_its_csrf_token_and_session(aw: Authward, flow: Flow) -> None:
    params = auth_params(await client_id(aw))
    page = await flow.follow(await flow.login(await flow.follow(await flow.start(params))))
    fields = form_fields(page.text)
    for csrf in (None, "A" * 43, fields["csrf_token"][:-2] + "AA"):
        data = {"ticket": fields["ticket"], "decision": "allow"}
        if csrf is not None:
            data["csrf_token"] = csrf
        response = await flow.http.post("/consent", data=data)
        assert response.status_code == 403
        assert "location" not in response.headers
    # Another signed-in browser cannot use this page's ticket, even with its own CSRF token.
    async with browser(aw) as other_http:
        other = Flow(other_http)
        other_page = await other.follow(
            await other.login(await other.follow(await other.start(params)))
        )
        mine = {**form_fields(other_page.text), "ticket": fields["ticket"], "decision": "allow"}
        response = await other_http.post("/consent", data=mine)
        assert response.status_code == 403
        assert "location" not in response.headers
    assert "consent.granted" not in await kinds(aw)
    redirected_to_client(await flow.consent(page))


@sqlite_only
async def test_tampered_tickets_are_refused_without_redirect(aw: Authward, flow: Flow) -> None:
    response = await flow.start(auth_params(await client_id(aw)))
    ticket = query(response.headers["location"])["ticket"][0]
    body, mac = ticket.split(".")
    forged = body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB") + "." + mac
    for bad in (forged, "nonsense", ""):
        for url in ("/oauth2/authorize/continue", "/login"):
            page = await flow.http.get(url, params={"ticket": bad})
            if bad == "" and url == "/login":
                assert page.status_code == 200  # a plain login page
                continue
            assert page.status_code == 400
            assert "location" not in page.headers


@sqlite_only
async def test_forms_refuse_bad_bodies(aw: Authward, flow: Flow) -> None:
    await flow.http.get("/login")
    for path in ("/login", "/consent", "/oauth2/authorize"):
        as_json = await flow.http.post(path, json={"username": USERNAME})
        huge = await flow.http.post(path, data={"username": "x" * 20_000})
        twice = await flow.http.post(
            path,
            content=b"username=a&username=b",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        for response in (as_json, huge, twice):
            assert response.status_code in (400, 403), (path, response.status_code)
            assert "location" not in response.headers


# -- headers ------------------------------------------------------------------------------------


@sqlite_only
async def test_pages_refuse_frames_caches_and_referrers(aw: Authward, flow: Flow) -> None:
    login = await flow.follow(await flow.start(auth_params(await client_id(aw))))
    consent = await flow.follow(await flow.login(login))
    error = await flow.start(auth_params("awc_unknown"))
    for page in (login, consent, error):
        headers = page.headers
        assert headers["x-frame-options"] == "DENY"
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'none'" in csp
        assert "script-src" not in csp
        assert headers["cache-control"] == "no-store"
        assert headers["referrer-policy"] == "no-referrer"
        assert "<script" not in page.text
    # Chrome checks redirects after a form post against form-action: the client is listed.
    assert "form-action 'self' https://client.example" in consent.headers["content-security-policy"]
    cookie = next(c for c in flow.http.cookies.jar if c.name == CSRF_COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert "samesite=lax" in login.headers["set-cookie"].lower()
