"""Swagger UI at /v1/docs in a real browser (Debian's chromium) against a real `authward serve`:
the page runs under its strict Content-Security-Policy with nothing refused, an admin's token goes
in through "Authorize", and "Try it out" lists the users with it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from authward.config import load_app
from authward.runtime import Authward
from authward.settings import load_settings
from tests.browser.conftest import USERNAME, add_user, run_async, serving

APP = """
from authward import db, define_auth, define_config

user = db.type("User", {"email": db.string().unique()})
auth = define_auth(
    "docs-auth",
    user_profile={"type": user, "username_field": "email"},
    machine_users={"ops": {}},
)
config = define_config(auth=auth, db=[user])
"""


async def _token(app: Path, database_url: str, key_file: Path) -> str:
    saved = list(sys.path)
    try:
        config, _ = load_app(app)
    finally:
        sys.path[:] = saved
    aw = await Authward.open(config, load_settings(database_url=database_url, key_file=key_file))
    try:
        return await aw.machine_user_token("ops")
    finally:
        await aw.close()


@pytest.fixture
def served_api(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`authward serve` with the management API open to the machine user ``ops``: its URL and an
    access token of ``ops`` (minted once the server has recorded its issuer)."""
    app = tmp_path / "docs_app.py"
    app.write_text(APP)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    key_file = tmp_path / "authward.key"
    run_async(add_user(app, database_url, key_file))
    with serving(app, database_url, key_file, admin_machine_users="ops") as url:
        yield url, run_async(_token(app, database_url, key_file))


def test_swagger_ui_authorizes_with_a_token_and_calls_the_api(
    chromium: Browser, served_api: tuple[str, str]
) -> None:
    url, token = served_api
    context = chromium.new_context()
    page = context.new_page()
    messages: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        messages.append(message.text)

    page.on("console", keep)
    page.goto(f"{url}/v1/docs")
    expect(page.get_by_role("heading", name="authward management API")).to_be_visible()
    operation = page.locator("#operations-users-list_users_users_get")
    expect(operation).to_be_visible()

    page.get_by_role("button", name="Authorize").first.click()
    page.locator(".auth-container input").fill(token)
    page.get_by_role("button", name="Apply credentials").click()
    page.get_by_role("button", name="Close").click()

    operation.locator(".opblock-summary").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table .response .response-col_status")
    expect(answer).to_have_text("200")
    expect(
        operation.locator(".live-responses-table .response .response-col_description")
    ).to_contain_text(USERNAME)
    refused = [m for m in messages if "Content Security Policy" in m]
    assert refused == [], refused
    context.close()
