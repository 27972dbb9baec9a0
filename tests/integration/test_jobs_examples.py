"""examples/jobs.py: the seed's jobs, translated, working on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from html import unescape
from types import ModuleType

import httpx
import pytest

from authward.config import load_app
from authward.jobs import JobsRuntime, find_job_clients
from authward.runtime import Authward
from authward.server.app import build_app
from tests.conftest import ROOT, SettingsFactory
from tests.integration.jobs_support import T0, FakeClock, wait_for
from tests.integration.test_jobs_tools import ADA, sign_in, start_test

EXAMPLE_JOBS = ROOT / "examples" / "jobs.py"


@pytest.fixture
async def example(
    database_url: str, settings_for: SettingsFactory
) -> AsyncIterator[tuple[Authward, ModuleType, FakeClock]]:
    config, module = load_app(EXAMPLE_JOBS)
    settings = settings_for(database_url, dashboard_users=ADA)
    aw = await Authward.open(config, settings, migrate=True)
    clock = FakeClock()
    aw.jobs = JobsRuntime(aw.jobs.ports, find_job_clients(module), clock=clock)
    await aw.jobs.start(scheduler=False)
    yield aw, module, clock
    await aw.close()


async def test_the_event_job_runs_for_the_account(
    example: tuple[Authward, ModuleType, FakeClock],
) -> None:
    aw, module, _ = example
    sent = await module.client.send_event(
        {"name": "post.created", "payload": {"id": "post_123"}}, account_id="user_123"
    )
    run = await wait_for(aw, sent.run_ids[0])
    assert run.status == "succeeded", run.error
    assert run.output == {"post": "post_123", "account": "user_123"}
    assert [r.account_id for r in await aw.jobs.list_runs(job_id="post-created")] == ["user_123"]


async def test_a_run_sends_an_event_with_an_account_id(
    example: tuple[Authward, ModuleType, FakeClock],
) -> None:
    aw, module, _ = example
    sent = await module.client.send_event({"name": "foo.bar", "payload": {}})
    parent = await wait_for(aw, sent.run_ids[0])
    assert parent.status == "succeeded", parent.error
    [task] = parent.tasks
    assert task.key == "🎫"
    [child_id] = task.output["run_ids"]
    child = await wait_for(aw, child_id)
    assert child.account_id == "user_123"
    assert child.output == {"post": "post_123", "account": "user_123"}


async def test_the_dynamic_schedule_registered_from_the_backend_and_from_a_run(
    example: tuple[Authward, ModuleType, FakeClock],
) -> None:
    aw, module, _ = example
    await module.register_schedule_for("user_123")
    sent = await module.client.send_event(
        {"name": "schedule.requested", "payload": {"account_id": "user_123"}}
    )
    registering = await wait_for(aw, sent.run_ids[0])
    assert [t.key for t in registering.tasks] == ["register:my-schedule:schedule_123"]

    schedules = await aw.jobs.list_schedules("my-schedule")
    assert sorted((s.schedule_id, s.account_id) for s in schedules) == [
        ("schedule_123", "user_123"),
        ("user_123", "user_123"),
    ]
    fired = await aw.jobs.scheduler.tick(T0 + timedelta(seconds=60))
    runs = [await wait_for(aw, run_id) for run_id in fired]
    scheduled = [r for r in runs if r.job_id == "scheduled-job"]
    assert len(scheduled) == 2
    assert {r.account_id for r in scheduled} == {"user_123"}
    assert all(r.status == "succeeded" for r in scheduled)
    assert scheduled[0].logs[0].message == "This runs dynamic schedules"


async def test_the_workflow_runs_as_the_machine_user(
    example: tuple[Authward, ModuleType, FakeClock],
) -> None:
    aw, module, _ = example
    run_id = await module.trigger_my_workflow("order-1")
    run = await wait_for(aw, run_id)
    machine_user = await aw.machine_users.get("admin-machine-user")
    assert machine_user is not None
    assert run.status == "succeeded", run.error
    assert run.output == {"id": "order-1", "acting_as": str(machine_user.id), "role": "ADMIN"}
    assert run.invoker == "machine-user:admin-machine-user"


async def test_the_jobs_are_listed_and_testable(
    example: tuple[Authward, ModuleType, FakeClock],
) -> None:
    aw, _, _ = example
    jobs = {j.id: j.trigger for j in aw.jobs.list_jobs()}
    assert jobs == {
        "event-1": "event foo.bar",
        "my-workflow": "event my-workflow.run",
        "nightly-digest": "cron 0 3 * * * (Europe/Paris)",
        "post-created": "event post.created",
        "register-schedule": "event schedule.requested",
        "scheduled-job": "dynamic schedule my-schedule",
    }
    run_id = await aw.jobs.test_job("post-created", {"id": "p-9"}, account_id="user_123")
    run = await wait_for(aw, run_id)
    assert (run.event_name, run.account_id, run.status) == ("test", "user_123", "succeeded")


async def test_the_dashboard_shows_user_123_on_the_examples_runs(
    example: tuple[Authward, ModuleType, FakeClock],
) -> None:
    """The issue's "done when", on the dashboard: the event job's run, the dynamic schedule's
    runs registered from the backend and from another run, a run tested from the dashboard with
    an account id, and the workflow run as the machine user."""
    aw, module, _ = example
    event = await module.client.send_event(
        {"name": "post.created", "payload": {"id": "post_123"}}, account_id="user_123"
    )
    await module.register_schedule_for("user_123")
    requested = await module.client.send_event(
        {"name": "schedule.requested", "payload": {"account_id": "user_123"}}
    )
    await wait_for(aw, requested.run_ids[0])
    scheduled = await aw.jobs.scheduler.tick(T0 + timedelta(seconds=60))
    workflow = await module.trigger_my_workflow("order-1")
    transport = httpx.ASGITransport(app=build_app(aw))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as web:
        await sign_in(aw, web, ADA)
        started = await start_test(web, "post-created", '{"id": "p-9"}', "user_123")
        assert started.status_code == 303
        tested = started.headers["location"].removeprefix("/dashboard/runs/")
        mine = [event.run_ids[0], *scheduled, tested]
        for run_id in [*mine, workflow]:
            assert (await wait_for(aw, run_id)).status == "succeeded"

        listed = (await web.get("/dashboard", params={"account_id": "user_123"})).text
        rows = {}
        for run_id in [*mine, workflow]:
            row = re.search(rf'<tr><td><a href="/dashboard/runs/{run_id}">.*?</tr>', listed)
            if row is not None:
                rows[run_id] = [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row[0])]
        everything = (await web.get("/dashboard")).text
        page = (await web.get(f"/dashboard/runs/{workflow}")).text

    assert len(scheduled) == 2  # one per registration: from the backend and from the run
    assert {run_id: cells[1:4] for run_id, cells in rows.items()} == {
        event.run_ids[0]: ["post-created 1.0.0", "succeeded", "user_123"],
        scheduled[0]: ["scheduled-job 1.0.0", "succeeded", "user_123"],
        scheduled[1]: ["scheduled-job 1.0.0", "succeeded", "user_123"],
        tested: ["post-created 1.0.0", "succeeded", "user_123"],
    }
    assert rows[tested][5] == "test"
    assert f'href="/dashboard/runs/{workflow}"' in everything  # it has no account
    assert "machine-user:admin-machine-user" in unescape(page)
