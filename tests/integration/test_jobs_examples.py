"""examples/jobs.py: the seed's jobs, translated, working on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from types import ModuleType

import pytest

from authward.config import load_app
from authward.jobs import JobsRuntime, find_job_clients
from authward.runtime import Authward
from tests.conftest import ROOT, SettingsFactory
from tests.integration.jobs_support import T0, FakeClock, wait_for

EXAMPLE_JOBS = ROOT / "examples" / "jobs.py"


@pytest.fixture
async def example(
    database_url: str, settings_for: SettingsFactory
) -> AsyncIterator[tuple[Authward, ModuleType, FakeClock]]:
    config, module = load_app(EXAMPLE_JOBS)
    aw = await Authward.open(config, settings_for(database_url), migrate=True)
    clock = FakeClock()
    aw.jobs = JobsRuntime(aw, find_job_clients(module), clock=clock)
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
