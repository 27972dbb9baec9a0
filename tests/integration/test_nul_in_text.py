"""A NUL character in text a browser or a client sends: PostgreSQL cannot hold one in text, so
before it reached a query it was a 500 there. Now it is what any other wrong value is, on both
stores."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from authward.jobs import JobClient, event_trigger
from authward.jobs.errors import EventRejected
from authward.runtime import Authward
from authward.server.app import build_app
from tests.conftest import SettingsFactory
from tests.integration.authorize_support import browser_config
from tests.integration.jobs_support import bind


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return html.unescape(match.group(1))


async def test_a_username_with_nul_is_a_failed_sign_in(
    database_url: str, settings_for: SettingsFactory
) -> None:
    runtime = await Authward.open(browser_config(), settings_for(database_url), migrate=True)
    try:
        await runtime.users.create("alice@example.com", "correct horse battery staple")
        await _sign_in_with_nul(runtime)
    finally:
        await runtime.close()


async def _sign_in_with_nul(runtime: Authward) -> None:
    transport = httpx.ASGITransport(app=build_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as browser:
        csrf = csrf_of((await browser.get("/login")).text)
        for username in ("alice@example.com\x00", "\x00"):
            answer = await browser.post(
                "/login",
                data={
                    "username": username,
                    "password": "correct horse battery staple",
                    "csrf_token": csrf,
                    "ticket": "",
                    "return_to": "",
                },
            )
            assert answer.status_code == 401, answer.text
            assert "Incorrect username or password" in answer.text
        # Any other route: a NUL in the query is refused before the route runs.
        for url in ("/dashboard?account_id=a%00b", "/oauth2/authorize?client_id=%00"):
            refused = await browser.get(url)
            assert refused.status_code == 400, url
            assert refused.json()["error"] == "invalid_request"
    assert await runtime.users.find("alice@example.com\x00") is None


async def test_an_account_id_with_nul_starts_no_run(runtime: Authward) -> None:
    client = JobClient(id="nul")

    @client.job(id="echo", name="Echo", version="1.0.0", trigger=event_trigger(name="echo"))
    async def echo(payload: Any, io: Any, ctx: Any) -> Any:
        return payload

    await bind(runtime, client, worker=False)
    with pytest.raises(EventRejected, match="NUL"):
        await runtime.jobs.test_job("echo", {}, account_id="user\x00")
    with pytest.raises(EventRejected, match="NUL"):
        await runtime.jobs.send_event({"name": "echo", "payload": {}}, account_id="user\x00")
    assert await runtime.jobs.list_runs(limit=10) == []
