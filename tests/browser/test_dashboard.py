"""The jobs dashboard in a real browser (Debian's chromium, JavaScript off) against a real
`authward serve` whose embedded worker runs the jobs: sign in through the login form, start a
job from the test form with an account id, and follow the run to its tasks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, USERNAME, add_user, run_async, serving

APP = """
from typing import Any

from authward import db, define_auth, define_config
from authward.jobs import JobClient, event_trigger

user = db.type("User", {"email": db.string().unique()})
auth = define_auth("dashboard-auth", user_profile={"type": user, "username_field": "email"})
config = define_config(auth=auth, db=[user])

client = JobClient(id="browser-jobs")


@client.job(id="greet", name="Greet", version="1.0.0", trigger=event_trigger(name="greet"))
async def greet(payload: Any, io: Any, ctx: Any) -> dict[str, Any]:
    await io.logger.info("greeting", {"account": ctx.account and ctx.account.id})
    text = await io.run_task("compose", lambda: "hello " + str(payload.get("name")))
    await io.run_task("deliver", lambda: {"sent": text})
    return {"text": text}
"""


@pytest.fixture
def dashboard_url(tmp_path: Path) -> Iterator[str]:
    """`authward serve` on SQLite with one job, and one user allowed on the dashboard."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    key_file = tmp_path / "authward.key"
    run_async(add_user(app, database_url, key_file))
    with serving(app, database_url, key_file, dashboard_users=USERNAME) as url:
        yield url


def _until_finished(page: Page) -> str:
    """Reload the run page until the embedded worker has finished the run (the page also
    refreshes itself; reloading here keeps the test independent of that timing)."""
    status = page.locator("#run-status")
    for _ in range(300):
        text = status.inner_text()
        if text not in ("queued", "running", "waiting"):
            return text
        page.wait_for_timeout(100)
        page.reload()
    raise AssertionError(f"the run is still {status.inner_text()}")


def test_start_a_job_from_the_dashboard_and_follow_its_run(
    chromium: Browser, dashboard_url: str
) -> None:
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()

    page.goto(f"{dashboard_url}/dashboard")
    assert re.search(r"/login\?return_to=%2Fdashboard$", page.url), page.url
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)

    page.goto(f"{dashboard_url}/dashboard/jobs")
    section = page.locator("#job-greet")
    expect(section).to_contain_text("event greet")
    section.locator("textarea[name=payload]").fill('{"name": "Ada"}')
    section.locator("input[name=account_id]").fill("user_123")
    section.get_by_role("button", name="Test").click()

    page.wait_for_url(re.compile(r"/dashboard/runs/run_[0-9a-f]+$"))
    run_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#run-account")).to_have_text("user_123")
    assert _until_finished(page) == "succeeded"
    tasks = page.locator("#tasks tr.task")
    expect(tasks).to_have_count(2)
    expect(tasks.nth(0)).to_contain_text("compose")
    expect(tasks.nth(1)).to_contain_text("deliver")
    # The bars got their place from the page's stylesheet (allowed by the CSP): not zero wide.
    for i in range(2):
        assert tasks.nth(i).locator(".bar").bounding_box()["width"] > 0  # type: ignore[index]
    expect(page.locator("#logs tr.log")).to_contain_text("greeting")
    expect(page.locator("#output")).to_contain_text('"text": "hello Ada"')

    page.get_by_role("link", name="Runs").click()
    page.fill("#account_id", "user_123")
    page.get_by_role("button", name="Filter").click()
    assert "account_id=user_123" in page.url
    row = page.locator("#runs tbody tr", has=page.locator(f'a[href="/dashboard/runs/{run_id}"]'))
    expect(row).to_have_count(1)
    expect(row.locator("td.account")).to_have_text("user_123")
    expect(row.locator("td.status")).to_have_text("succeeded")
    context.close()
