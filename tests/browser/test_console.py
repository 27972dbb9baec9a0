"""The admin console and the self-service page in a real browser (Debian's chromium, JavaScript
off) against a real `authward serve`: an admin walks every console page and disables a user,
revokes a key and exports the audit log; a plain user walks the self-service page, revokes a
consent and signs out elsewhere, and is refused the console.

With AUTHWARD_SCREENSHOTS set to a folder (`make screenshots`), each page is saved there as a
PNG for docs/console.md."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from authward.config import load_app
from authward.runtime import Authward
from authward.settings import load_settings
from tests.browser.conftest import CLIENT, TIMEOUT_MS, run_async, serving

ADMIN = "ada@example.com"
USER = "bob@example.com"
PASSWORD = "a long and fine password"
SHOTS = os.environ.get("AUTHWARD_SCREENSHOTS")

APP = """
from typing import Any

from authward import db, define_auth, define_config
from authward.jobs import JobClient, event_trigger

user = db.type("User", {"email": db.string().unique()})
auth = define_auth(
    "console-auth",
    user_profile={"type": user, "username_field": "email"},
    oauth2_clients={
        "CLIENT": {
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "description": "The team's notes app",
        },
    },
    machine_users={"reporting-bot": {"attributes": {}}},
)
config = define_config(auth=auth, db=[user])

client = JobClient(id="console-jobs")


@client.job(id="greet", name="Greet", version="1.0.0", trigger=event_trigger(name="greet"))
async def greet(payload: Any, io: Any, ctx: Any) -> str:
    return "hello"
""".replace("CLIENT", CLIENT)


@dataclass(frozen=True)
class Console:
    url: str
    bob_id: str


async def _seed(app: Path, database_url: str, key_file: Path) -> str:
    config, _ = load_app(app)
    aw = await Authward.open(
        config, load_settings(database_url=database_url, key_file=key_file), migrate=True
    )
    try:
        await aw.users.create(ADMIN, PASSWORD)
        bob = await aw.users.create(USER, PASSWORD)
        await aw.users.create("dave@example.com", None)
        await aw.users.create("a.very.long.address.that.should.wrap.nicely+🦄@example.com", None)
        await aw.sessions.create(bob.id, ip="192.0.2.7", user_agent="Firefox on a phone")
        await aw.api_keys.create("bob-ci", user_id=bob.id, actor=bob.id)
        await aw.api_keys.create("bob-laptop", user_id=bob.id, actor=bob.id)
        stored = await aw.clients.get(CLIENT)
        assert stored is not None
        await aw.consents.grant(bob.id, stored.client_id, ("openid", "profile"))
        await aw.organizations.create("acme", "Acme Corp 🚀")
        await aw.organizations.add_member("acme", bob.id, sorted(aw.organizations.roles)[0])
        return bob.id
    finally:
        await aw.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp_path = tmp_path_factory.mktemp("console")
    app = tmp_path / "console_app.py"
    app.write_text(APP)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    key_file = tmp_path / "authward.key"
    bob_id = run_async(_seed(app, database_url, key_file))
    with serving(app, database_url, key_file, dashboard_users=ADMIN) as url:
        yield Console(url, bob_id)


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def _sign_in(browser: Browser, console: Console, username: str, **options: object) -> Page:
    context = browser.new_context(java_script_enabled=False, **options)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{console.url}/")
    assert re.search(r"/login\?return_to=%2F$", page.url), page.url
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    if username == ADMIN:
        _shot(page, "sign-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def _section(page: Page, name: str, heading: str, shot: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    _shot(page, shot)


def test_admin_walks_the_console(chromium: Browser, console: Console) -> None:
    page = _sign_in(chromium, console, ADMIN, viewport={"width": 1280, "height": 800})
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    assert page.url.endswith("/console/users")
    _shot(page, "console-users")

    # Search, open a user, disable them.
    page.fill("#q", "DAVE")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#users tbody tr")
    expect(rows).to_have_count(1)
    rows.get_by_role("link", name="dave@example.com").click()
    expect(page.locator("#user-status")).to_have_text("active")
    page.get_by_role("button", name="Disable user").click()
    expect(page.get_by_role("status")).to_contain_text("User disabled")
    expect(page.locator("#user-status")).to_have_text("disabled")

    page.goto(f"{console.url}/console/users/{console.bob_id}")
    expect(page.locator("#user-keys")).to_contain_text("bob-ci")
    expect(page.locator("#user-consents")).to_contain_text(f"{CLIENT} awc_")
    expect(page.locator("#user-consents")).to_contain_text("openid profile")
    _shot(page, "console-user")

    _section(page, "Clients", "Clients", "console-clients")
    expect(page.locator("#clients")).to_contain_text("The team's notes app")
    expect(page.locator("#machine-users")).to_contain_text("reporting-bot")

    _section(page, "API keys", "API keys", "console-api-keys")
    row = page.locator("#api-keys tbody tr", has_text="bob-ci")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("API key revoked")
    expect(page.locator("#api-keys tbody tr", has_text="bob-ci")).to_contain_text("revoked")

    _section(page, "Organizations", "Organizations", "console-organizations")
    page.get_by_role("link", name="acme").click()
    expect(page.locator("#members")).to_contain_text(USER)
    _shot(page, "console-organization")

    _section(page, "Sessions", "Sessions", "console-sessions")
    expect(page.locator("#sessions")).to_contain_text("Firefox on a phone")
    _section(page, "Connections", "Connected accounts", "console-connections")

    _section(page, "Audit log", "Audit log", "console-audit")
    page.fill("#kind", "user.disabled")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit tr.event")).to_have_count(1)
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    exported = Path(download.value.path()).read_text()
    assert exported.startswith("kind,at,actor,subject,client_id,ip,detail")
    assert exported.count("user.disabled") == 1

    _section(page, "Runs", "Runs", "console-runs")
    _section(page, "Jobs", "Jobs", "console-jobs")
    page.context.close()


def test_user_walks_the_self_service_page(chromium: Browser, console: Console) -> None:
    # At phone width: the page fits, nothing scrolls sideways.
    page = _sign_in(chromium, console, USER, viewport={"width": 390, "height": 844})
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    assert page.url.endswith("/account")
    box = page.locator("main").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    _shot(page, "account-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.locator("#my-sessions tbody tr")).to_have_count(2)
    expect(page.locator("#my-keys")).to_contain_text("bob-laptop")
    _shot(page, "account")

    page.locator("#my-consents tbody tr").get_by_role("button", name="Revoke access").click()
    expect(page.get_by_role("status")).to_contain_text("Access revoked")
    expect(page.locator("#my-consents")).to_have_count(0)

    page.get_by_role("button", name="Sign out everywhere else").click()
    expect(page.get_by_role("status")).to_contain_text("Signed out everywhere else")
    expect(page.locator("#my-sessions tbody tr")).to_have_count(1)

    # The navigation has no console for a plain user, and the console refuses them.
    expect(page.get_by_role("navigation").get_by_role("link", name="Users")).to_have_count(0)
    response = page.goto(f"{console.url}/console/users")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    page.context.close()
