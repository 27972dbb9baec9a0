"""The admin console and the self-service page (decision 051), in-process against build_app
on SQLite and PostgreSQL: who may open what, CSRF, paging and search, actions in the audit log,
and the audit export."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator
from html import unescape

import httpx
import pytest

from authward.config import Config
from authward.identity.sessions import SECRET_COOKIE
from authward.runtime import Authward
from authward.server.app import build_app
from tests.conftest import SettingsFactory

ADMIN = "root@example.com"
USER = "bob@example.com"
CONSOLE_PAGES = (
    "/console/users",
    "/console/clients",
    "/console/api-keys",
    "/console/organizations",
    "/console/sessions",
    "/console/connections",
    "/console/audit",
    "/console/audit/export?format=csv",
)


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    settings = settings_for(database_url, dashboard_users=ADMIN)
    runtime = await Authward.open(example_config, settings, migrate=True)
    yield runtime
    await runtime.close()


def _client(aw: Authward) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(aw)), base_url="http://t")


async def _user(aw: Authward, username: str) -> str:
    profile = {"organization_id": str(uuid.uuid4()), "team_id": str(uuid.uuid4())}
    return (await aw.users.create(username, None, profile=profile)).id


async def _signed_in(aw: Authward, web: httpx.AsyncClient, username: str) -> tuple[str, str]:
    """A browser session for ``username`` (created if needed): its user id and session id."""
    account = await aw.users.find(username)
    user_id = account.id if account else await _user(aw, username)
    secret, info = await aw.sessions.create(user_id, claims={"amr": ["pwd"]}, actor=user_id)
    web.cookies.set(SECRET_COOKIE, secret)
    return user_id, info.id


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_home_sends_each_visitor_to_their_place(aw: Authward) -> None:
    async with _client(aw) as web:
        signed_out = await web.get("/")
        assert signed_out.status_code == 303
        assert signed_out.headers["location"] == "/login?return_to=%2F"
        await _signed_in(aw, web, USER)
        assert (await web.get("/")).headers["location"] == "/account"
    async with _client(aw) as web:
        await _signed_in(aw, web, ADMIN)
        assert (await web.get("/")).headers["location"] == "/console/users"


async def test_console_is_for_admins_only(aw: Authward) -> None:
    async with _client(aw) as web:
        for path in CONSOLE_PAGES:
            response = await web.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?return_to=")
        user_id, _ = await _signed_in(aw, web, USER)
        await aw.sessions.create(user_id, actor=user_id)  # so that /account has a form
        for path in CONSOLE_PAGES:
            assert (await web.get(path)).status_code == 403, path
        # A plain user's form post with a valid token is refused too, and changes nothing.
        csrf = csrf_of(await web.get("/account"))
        refused = await web.post(f"/console/users/{user_id}/disable", data={"csrf_token": csrf})
        assert refused.status_code == 403
        assert not (await aw.users.get(user_id)).disabled  # type: ignore[union-attr]
    async with _client(aw) as web:
        await _signed_in(aw, web, ADMIN)
        for path in CONSOLE_PAGES:
            page = await web.get(path)
            assert page.status_code == 200, path
            assert "<script" not in page.text
        # Every user's active sessions, the plain user's two among them.
        sessions = (await web.get("/console/sessions")).text
        assert "(this one)" in sessions
        assert sessions.count(f">{USER}</a>") == 2


async def test_admin_searches_pages_and_disables_a_user(aw: Authward) -> None:
    for i in range(52):
        await _user(aw, f"user{i:02d}@example.com")
    victim = await _user(aw, "eve+<b>@example.com")
    await aw.sessions.create(victim, actor=victim)
    async with _client(aw) as web:
        admin_id, _ = await _signed_in(aw, web, ADMIN)
        first = await web.get("/console/users")
        assert first.text.count('<tr><td><a href="/console/users/') == 50
        following = re.search(r'href="([^"]+)" rel="next"', first.text)
        assert following is not None
        second = await web.get(unescape(following.group(1)))
        assert second.text.count('<tr><td><a href="/console/users/') == 4  # 52 + eve + admin
        found = await web.get("/console/users", params={"q": "EVE+<"})
        assert "eve+&lt;b&gt;@example.com" in found.text
        assert found.text.count('<tr><td><a href="/console/users/') == 1
        none = await web.get("/console/users", params={"q": "%"})  # no wildcard
        assert "No user matches." in none.text

        page = await web.get(f"/console/users/{victim}")
        assert 'id="user-status">active<' in page.text
        forged = await web.post(f"/console/users/{victim}/disable", data={"csrf_token": "x"})
        assert forged.status_code == 403
        assert not (await aw.users.get(victim)).disabled  # type: ignore[union-attr]
        done = await web.post(
            f"/console/users/{victim}/disable", data={"csrf_token": csrf_of(page)}
        )
        assert done.status_code == 303
        after = await web.get(done.headers["location"])
        assert 'id="user-status">disabled<' in after.text
        assert "User disabled" in after.text
    assert (await aw.users.get(victim)).disabled  # type: ignore[union-attr]
    assert await aw.sessions.list(victim) == []
    events = await aw.audit.page(before=None, limit=9, kind="user.disabled", subject=victim)
    assert [r.event.actor for r in events] == [admin_id]


async def test_admin_creates_and_revokes_an_api_key(aw: Authward) -> None:
    owner = await _user(aw, USER)
    async with _client(aw) as web:
        admin_id, _ = await _signed_in(aw, web, ADMIN)
        csrf = csrf_of(await web.get("/console/api-keys"))
        made = await web.post(
            "/console/api-keys",
            data={"csrf_token": csrf, "name": "ci", "owner": USER, "scopes": ""},
        )
        assert made.status_code == 200
        secret = re.search(r'<pre id="new-secret">([^<]+)</pre>', made.text)
        assert secret is not None
        assert made.headers["cache-control"] == "no-store"
        assert (await aw.api_keys.verify(secret.group(1))).user_id == owner
        # Shown once: the list does not show it again.
        assert secret.group(1) not in (await web.get("/console/api-keys")).text
        unknown = await web.post(
            "/console/api-keys",
            data={"csrf_token": csrf, "name": "x", "owner": "nobody@example.com"},
        )
        assert unknown.status_code == 400
        (key,) = await aw.api_keys.list(user_id=owner)
        revoked = await web.post(
            f"/console/api-keys/{key.id}/revoke",
            data={"csrf_token": csrf, "back": "//evil.example/"},
        )
        assert revoked.headers["location"] == "/console/api-keys?done=key-revoked"
    assert (await aw.api_keys.get(key.id)).revoked_at is not None  # type: ignore[union-attr]
    for kind in ("apikey.created", "apikey.revoked"):
        assert [r.event.actor for r in await aw.audit.page(before=None, limit=9, kind=kind)] == [
            admin_id
        ]


async def test_audit_log_filters_and_exports(aw: Authward) -> None:
    await _user(aw, "=cmd|calc@example.com")
    async with _client(aw) as web:
        admin_id, _ = await _signed_in(aw, web, ADMIN)
        page = await web.get("/console/audit", params={"kind": "user.created"})
        assert page.text.count('<tr class="event">') == 2  # both users created
        by_actor = await web.get(
            "/console/audit", params={"kind": "user.created", "actor": admin_id}
        )
        assert by_actor.text.count('<tr class="event">') == 0
        later = await web.get("/console/audit", params={"since": "2999-01-01T00:00"})
        assert "No events match." in later.text
        bad = await web.get("/console/audit", params={"until": "yesterday"})
        assert bad.status_code == 400

        exported = await web.get(
            "/console/audit/export", params={"kind": "user.created", "format": "csv"}
        )
        assert exported.headers["content-type"].startswith("text/csv")
        assert "attachment" in exported.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert len(rows) == 2
        usernames = {json.loads(r["detail"])["username"] for r in rows}
        assert usernames == {"=cmd|calc@example.com", ADMIN}
        as_json = await web.get(
            "/console/audit/export", params={"kind": "user.created", "format": "json"}
        )
        assert {e["kind"] for e in as_json.json()} == {"user.created"}
        assert len(as_json.json()) == 2


async def test_self_service_revokes_only_what_is_mine(aw: Authward) -> None:
    other = await _user(aw, "mallory@example.com")
    _, their_key = await aw.api_keys.create("theirs", user_id=other)
    theirs = their_key.key_id
    async with _client(aw) as web:
        me, current = await _signed_in(aw, web, USER)
        elsewhere = await aw.sessions.create(me, actor=me)
        await aw.consents.grant(me, "some-client", ("openid",))
        await aw.consents.grant(other, "some-client", ("openid",))
        _, mine = await aw.api_keys.create("mine", user_id=me)
        page = await web.get("/account")
        assert page.status_code == 200
        assert "some-client" in page.text
        csrf = csrf_of(page)
        # Another user's key is not found, and stays valid.
        assert (
            await web.post(f"/account/api-keys/{theirs}/revoke", data={"csrf_token": csrf})
        ).status_code == 404
        key_id = mine.key_id
        assert (
            await web.post(f"/account/api-keys/{key_id}/revoke", data={"csrf_token": csrf})
        ).status_code == 303
        assert (
            await web.post(
                "/account/consents/revoke", data={"csrf_token": csrf, "client_id": "some-client"}
            )
        ).status_code == 303
        assert (
            await web.post("/account/sessions/others/revoke", data={"csrf_token": csrf})
        ).status_code == 303
        assert (await web.get("/account")).status_code == 200  # still signed in here
    assert await aw.consents.list(me) == []
    assert len(await aw.consents.list(other)) == 1
    assert [s.id for s in await aw.sessions.list(me)] == [current]
    assert elsewhere[1].id != current
    assert await aw.api_keys.list(user_id=me) == []
    assert len(await aw.api_keys.list(user_id=other)) == 1


async def test_home_is_the_apps_own_when_it_brings_one(aw: Authward) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def mine(_: object) -> PlainTextResponse:
        return PlainTextResponse("the app's own home")

    app = build_app(aw, mount=lambda _: Starlette(routes=[Route("/", mine)]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as web:
        assert (await web.get("/")).text == "the app's own home"
        assert (await web.get("/account")).status_code == 303  # the console stays
