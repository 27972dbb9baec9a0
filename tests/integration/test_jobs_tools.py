"""The jobs dashboard (behind browser sign-in, for AUTHWARD_DASHBOARD_USERS only) and the jobs
routes of the management API, in-process against build_app on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from html import unescape
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from authward.config import Config
from authward.identity.sessions import SECRET_COOKIE
from authward.jobs import Io, JobClient, RunContext, event_trigger
from authward.runtime import Authward
from authward.server.app import build_app
from tests.conftest import SettingsFactory
from tests.integration.jobs_support import bind, wait_for

ADA = "ada@example.com"
MALLORY = "mallory@example.com"


class Greeting(BaseModel):
    name: str


def tools_client() -> JobClient:
    client = JobClient(id="tools")

    @client.job(
        id="greet",
        name="Greet someone",
        version="1.0.0",
        trigger=event_trigger(name="greet", schema=Greeting),
    )
    async def greet(payload: Greeting, io: Io, ctx: RunContext) -> dict[str, Any]:
        account = ctx.account.id if ctx.account else None
        await io.logger.info("greeting <b>them</b>", {"name": payload.name})
        text = await io.run_task("compose", lambda: f"hello {payload.name}")
        await io.run_task(
            "deliver",
            lambda: {"sent": text},
            integration="byo-slack",
            credential_source="resolver",
            credential_account=account,
        )
        return {"text": text, "account": account, "user": ctx.user and ctx.user.subject}

    @client.job(id="pause", name="Pause", version="0.1.0", trigger=event_trigger(name="pause"))
    async def pause(payload: Any, io: Io, ctx: RunContext) -> None:
        await io.wait("nap", seconds=3600)

    return client


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    settings = settings_for(
        database_url, admin_machine_users="admin-machine-user", dashboard_users=f" {ADA} ,x"
    )
    runtime = await Authward.open(example_config, settings, migrate=True)
    await bind(runtime, tools_client())
    yield runtime
    await runtime.close()


@pytest.fixture
async def web(aw: Authward) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(aw))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def sign_in(aw: Authward, web: httpx.AsyncClient, username: str) -> str:
    """What the login page leaves behind: a browser session (docs/users.md)."""
    profile = {"organization_id": str(uuid.uuid4()), "team_id": str(uuid.uuid4())}
    account = await aw.users.create(username, None, profile=profile)
    secret, _ = await aw.sessions.create(account.id, claims={"amr": ["pwd"]}, actor=account.id)
    web.cookies.set(SECRET_COOKIE, secret)
    return account.id


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def text_of(page: httpx.Response) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", page.text))


async def start_test(
    web: httpx.AsyncClient, job_id: str, payload: str, account_id: str = ""
) -> httpx.Response:
    csrf = csrf_of(await web.get("/dashboard/jobs"))
    return await web.post(
        "/dashboard/jobs/test",
        data={"csrf_token": csrf, "job_id": job_id, "payload": payload, "account_id": account_id},
    )


# -- the dashboard: who may see it ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/dashboard", "/dashboard/jobs", "/dashboard/runs/run_x", "/dashboard?account_id=u 1"]
)
async def test_signed_out_is_sent_to_login_and_back(web: httpx.AsyncClient, path: str) -> None:
    response = await web.get(path)
    assert response.status_code == 303
    location = httpx.URL(response.headers["location"])
    assert location.path == "/login"
    assert location.params["return_to"] == str(httpx.URL(path).raw_path.decode())
    assert response.headers["cache-control"] == "no-store"


async def test_signed_out_post_starts_nothing(aw: Authward, web: httpx.AsyncClient) -> None:
    response = await web.post("/dashboard/jobs/test", data={"job_id": "greet", "payload": "{}"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?return_to=")
    assert await aw.jobs.list_runs() == []


async def test_a_user_not_in_dashboard_users_gets_403(aw: Authward, web: httpx.AsyncClient) -> None:
    await sign_in(aw, web, MALLORY)
    await aw.jobs.test_job("greet", {"name": "x"}, account_id="user_123")
    for path in ("/dashboard", "/dashboard/jobs"):
        page = await web.get(path)
        assert page.status_code == 403
        assert f"signed in as {MALLORY}" in text_of(page)
        assert "AUTHWARD_DASHBOARD_USERS" in page.text
        assert "user_123" not in page.text
    refused = await web.post("/dashboard/jobs/test", data={"job_id": "greet", "payload": "{}"})
    assert refused.status_code == 403
    assert len(await aw.jobs.list_runs()) == 1


async def test_a_revoked_session_is_signed_out(aw: Authward, web: httpx.AsyncClient) -> None:
    user_id = await sign_in(aw, web, ADA)
    assert (await web.get("/dashboard")).status_code == 200
    await aw.sessions.revoke_all(user_id)
    assert (await web.get("/dashboard")).status_code == 303


async def test_pages_carry_the_security_headers(aw: Authward, web: httpx.AsyncClient) -> None:
    await sign_in(aw, web, ADA)
    page = await web.get("/dashboard")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # nothing may run
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text


# -- the dashboard: runs ---------------------------------------------------------------------------


async def test_runs_list_shows_account_and_filters(aw: Authward, web: httpx.AsyncClient) -> None:
    await sign_in(aw, web, ADA)
    mine = await aw.jobs.test_job("greet", {"name": "a"}, account_id="user_123")
    theirs = await aw.jobs.test_job("greet", {"name": "b"}, account_id="user_456")
    waiting = (await aw.jobs.send_event({"name": "pause"}, account_id="user_123")).run_ids[0]
    await wait_for(aw, mine)
    await wait_for(aw, theirs)
    await wait_for(aw, waiting, "waiting")

    everything = await web.get("/dashboard")
    assert everything.status_code == 200
    for run_id in (mine, theirs, waiting):
        assert f'href="/dashboard/runs/{run_id}"' in everything.text
    row = re.search(rf"<tr><td><a href=\"/dashboard/runs/{mine}\">.*?</tr>", everything.text)
    assert row is not None
    cells = [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))]
    assert cells[1:4] == ["greet 1.0.0", "succeeded", "user_123"]
    assert cells[5] == "test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", cells[6])
    assert re.fullmatch(r"\d+ ms|\d+\.\d\d s", cells[7])

    by_account = (await web.get("/dashboard", params={"account_id": "user_123"})).text
    assert mine in by_account
    assert waiting in by_account
    assert theirs not in by_account
    assert 'value="user_123"' in by_account  # the filter is kept

    by_job_and_status = await web.get(
        "/dashboard", params={"job_id": "pause", "status": "waiting", "account_id": ""}
    )
    assert waiting in by_job_and_status.text
    assert mine not in by_job_and_status.text

    none = await web.get("/dashboard", params={"account_id": "nobody"})
    assert "No runs match these filters." in none.text

    bad = await web.get("/dashboard", params={"status": "<b>odd</b>"})
    assert bad.status_code == 400
    assert "Unknown status '<b>odd</b>'" in text_of(bad)
    assert "<b>odd" not in bad.text


async def test_run_page_shows_tasks_timeline_lineage_and_logs(
    aw: Authward, web: httpx.AsyncClient
) -> None:
    await sign_in(aw, web, ADA)
    run_id = await aw.jobs.test_job("greet", {"name": "<script>x</script>"}, account_id="user_123")
    await wait_for(aw, run_id)

    page = await web.get(f"/dashboard/runs/{run_id}")
    assert page.status_code == 200
    html = page.text
    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html  # payload and output, escaped
    assert re.search(r'id="run-status">succeeded<', html)
    assert re.search(r'id="run-account">user_123<', html)
    tasks = re.findall(r'<tr class="task">(.*?)</tr>', html, re.S)
    assert [re.search(r"<code>(.*?)</code>", t).group(1) for t in tasks] == [  # type: ignore[union-attr]
        "compose",
        "deliver",
    ]
    assert "byo-slack" in tasks[1]
    assert "resolver" in tasks[1]
    assert "user_123" in tasks[1]
    # Each bar is placed by classes of the one stylesheet (offset and width in whole percent):
    # the page has no style of its own.
    bars = re.findall(r'class="bar s-succeeded l(\d+) w(\d+)"', html)
    assert len(bars) == 2
    assert all(0 <= int(left) < 100 and 1 <= int(width) <= 100 for left, width in bars)
    assert "style=" not in html
    assert "<style" not in html
    logs = re.findall(r'<tr class="log">(.*?)</tr>', html)
    assert len(logs) == 1
    assert "greeting &lt;b&gt;them&lt;/b&gt;" in logs[0]
    assert "&#34;name&#34;: &#34;&lt;script&gt;x&lt;/script&gt;&#34;" in logs[0]
    assert "Cancel run" not in html  # finished
    assert 'http-equiv="refresh"' not in html

    missing = await web.get("/dashboard/runs/run_nope")
    assert missing.status_code == 404


async def test_cancel_a_live_run(aw: Authward, web: httpx.AsyncClient) -> None:
    await sign_in(aw, web, ADA)
    run_id = (await aw.jobs.send_event({"name": "pause"})).run_ids[0]
    await wait_for(aw, run_id, "waiting")
    page = await web.get(f"/dashboard/runs/{run_id}")
    assert "Cancel run" in page.text
    assert 'http-equiv="refresh"' in page.text  # a live run's page follows it

    forged = await web.post(f"/dashboard/runs/{run_id}/cancel", data={"csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert (await aw.jobs.get_run(run_id)).status == "waiting"  # type: ignore[union-attr]

    done = await web.post(f"/dashboard/runs/{run_id}/cancel", data={"csrf_token": csrf_of(page)})
    assert done.status_code == 303
    assert done.headers["location"] == f"/dashboard/runs/{run_id}"
    assert (await aw.jobs.get_run(run_id)).status == "cancelled"  # type: ignore[union-attr]
    after = await web.get(f"/dashboard/runs/{run_id}")
    assert "Cancel run" not in after.text


# -- the dashboard: the test form ------------------------------------------------------------------


async def test_test_form_starts_a_run_with_the_account_id(
    aw: Authward, web: httpx.AsyncClient
) -> None:
    user_id = await sign_in(aw, web, ADA)
    jobs = await web.get("/dashboard/jobs")
    assert jobs.status_code == 200
    assert "event greet" in jobs.text
    assert 'name="job_id" value="pause"' in jobs.text

    started = await start_test(web, "greet", '{"name": "Ada"}', "user_123")
    assert started.status_code == 303
    run_id = started.headers["location"].removeprefix("/dashboard/runs/")
    run = await wait_for(aw, run_id)
    assert run.status == "succeeded", run.error
    assert (run.account_id, run.event_name) == ("user_123", "test")
    # The run acts as the signed-in user who started it.
    assert run.invoker == f"user:{user_id}"
    assert run.output == {"text": "hello Ada", "account": "user_123", "user": user_id}

    listed = await web.get("/dashboard", params={"account_id": "user_123"})
    assert run_id in listed.text


async def test_test_form_without_csrf_is_refused(aw: Authward, web: httpx.AsyncClient) -> None:
    await sign_in(aw, web, ADA)
    await web.get("/dashboard/jobs")  # the browser has its CSRF cookie
    missing = await web.post("/dashboard/jobs/test", data={"job_id": "greet", "payload": "{}"})
    assert missing.status_code == 403
    assert "Form expired" in missing.text
    web.cookies.delete("aw_csrf")
    stale = await web.post(
        "/dashboard/jobs/test",
        data={"csrf_token": "A" * 43, "job_id": "greet", "payload": '{"name": "x"}'},
    )
    assert stale.status_code == 403
    assert await aw.jobs.list_runs() == []


async def test_bad_json_shows_the_form_again_and_starts_nothing(
    aw: Authward, web: httpx.AsyncClient
) -> None:
    await sign_in(aw, web, ADA)
    page = await start_test(web, "greet", '{"name": <oops>', "user_123")
    assert page.status_code == 400
    section = re.search(r'<section class="job" id="job-greet">.*?</section>', page.text, re.S)
    assert section is not None
    assert "The payload is not valid JSON" in section.group(0)
    assert "No run was started." in section.group(0)
    # What was typed is kept (escaped) for fixing.
    assert "{&#34;name&#34;: &lt;oops&gt;</textarea>" in section.group(0)
    assert 'value="user_123"' in section.group(0)
    assert await aw.jobs.list_runs() == []

    refused = await start_test(web, "greet", '{"nom": "x"}')
    assert refused.status_code == 400
    assert "does not match the schema" in refused.text
    assert "name: Field required" in refused.text
    assert await aw.jobs.list_runs() == []

    unknown = await start_test(web, "nope", "{}")
    assert unknown.status_code == 404
    assert await aw.jobs.list_runs() == []


# -- the management API ----------------------------------------------------------------------------


async def bearer(aw: Authward, name: str = "admin-machine-user") -> dict[str, str]:
    return {"Authorization": f"Bearer {await aw.machine_user_token(name)}"}


async def test_api_lists_jobs_tests_one_and_reads_its_run(
    aw: Authward, web: httpx.AsyncClient
) -> None:
    headers = await bearer(aw)
    jobs = (await web.get("/v1/jobs", headers=headers)).json()["items"]
    assert jobs == [
        {
            "id": "greet",
            "name": "Greet someone",
            "version": "1.0.0",
            "client_id": "tools",
            "trigger": "event greet",
            "event_name": "greet",
        },
        {
            "id": "pause",
            "name": "Pause",
            "version": "0.1.0",
            "client_id": "tools",
            "trigger": "event pause",
            "event_name": "pause",
        },
    ]

    created = await web.post(
        "/v1/jobs/greet/test",
        json={"payload": {"name": "Ada"}, "account_id": "user_123"},
        headers=headers,
    )
    assert created.status_code == 201
    summary = created.json()
    assert (summary["job_id"], summary["account_id"], summary["event_name"]) == (
        "greet",
        "user_123",
        "test",
    )
    admin = await aw.machine_users.get("admin-machine-user")
    assert admin is not None
    assert summary["invoker"] == f"machine:{admin.id}"  # the calling machine user
    await wait_for(aw, summary["id"])

    detail = (await web.get(f"/v1/runs/{summary['id']}", headers=headers)).json()
    assert detail["status"] == "succeeded"
    assert detail["payload"] == {"name": "Ada"}
    assert detail["output"]["text"] == "hello Ada"
    assert [(t["key"], t["status"], t["integration"]) for t in detail["tasks"]] == [
        ("compose", "succeeded", None),
        ("deliver", "succeeded", "byo-slack"),
    ]
    assert detail["tasks"][1]["credential_account"] == "user_123"
    assert [(e["level"], e["message"]) for e in detail["logs"]] == [
        ("info", "greeting <b>them</b>")
    ]
    assert set(detail) >= {"created_at", "started_at", "finished_at", "duration_ms", "attempts"}

    listed = (await web.get("/v1/runs", params={"account_id": "user_123"}, headers=headers)).json()
    assert [r["id"] for r in listed["items"]] == [summary["id"]]
    assert listed["next_cursor"] is None
    assert set(listed["items"][0]) == set(summary)
    paused = (await web.get("/v1/runs", params={"job_id": "pause"}, headers=headers)).json()
    assert paused == {"items": [], "next_cursor": None}
    done = (await web.get("/v1/runs", params={"status": "succeeded"}, headers=headers)).json()
    assert done["items"][0]["id"] == summary["id"]
    bad_status = await web.get("/v1/runs", params={"status": "done"}, headers=headers)
    assert bad_status.status_code == 422


async def test_api_refusals(aw: Authward, web: httpx.AsyncClient) -> None:
    headers = await bearer(aw)
    assert (await web.get("/v1/jobs")).status_code == 401
    reader = await web.get("/v1/runs", headers=await bearer(aw, "readonly-machine-user"))
    assert reader.status_code == 403

    unknown = await web.post("/v1/jobs/nope/test", json={}, headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
    assert "no job 'nope'" in unknown.json()["message"]

    rejected = await web.post("/v1/jobs/greet/test", json={"payload": {"nom": 1}}, headers=headers)
    assert rejected.status_code == 400
    body = rejected.json()
    assert body["error"] == "invalid_request"
    assert body["errors"][0]["loc"] == ["name"]
    assert await aw.jobs.list_runs() == []

    missing = await web.get("/v1/runs/run_nope", headers=headers)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert (await web.post("/v1/runs/run_nope/cancel", headers=headers)).status_code == 404


async def test_api_cancels_a_live_run_once(aw: Authward, web: httpx.AsyncClient) -> None:
    headers = await bearer(aw)
    run_id = (await aw.jobs.send_event({"name": "pause"}, account_id="user_9")).run_ids[0]
    await wait_for(aw, run_id, "waiting")
    cancelled = await web.post(f"/v1/runs/{run_id}/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["account_id"]) == ("cancelled", "user_9")
    again = await web.post(f"/v1/runs/{run_id}/cancel", headers=headers)
    assert again.status_code == 409
    assert again.json() == {
        "error": "conflict",
        "message": f"run '{run_id}' has already ended (cancelled)",
    }
