"""Interval, cron and dynamic schedules, driven by a clock the test moves (no sleeping)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from authward.config import Config
from authward.errors import ConfigError
from authward.jobs import (
    Io,
    JobClient,
    JobsRuntime,
    RunContext,
    cron_trigger,
    event_trigger,
    interval_trigger,
)
from authward.runtime import Authward
from tests.conftest import SettingsFactory
from tests.integration.jobs_support import T0, FakeClock, bind, table_count, wait_for

EVERY_MINUTE = {"type": "interval", "options": {"seconds": 60}, "account_id": "user_123"}


def schedule_client(seen: list[RunContext] | None = None) -> JobClient:
    client = JobClient(id="app")
    dynamic = client.define_dynamic_schedule(id="my-schedule")

    @client.job(id="scheduled-job", name="Scheduled", version="1.0.0", trigger=dynamic)
    async def scheduled(payload: dict[str, Any], io: Io, ctx: RunContext) -> dict[str, Any]:
        if seen is not None:
            seen.append(ctx)
        await io.logger.info("This runs dynamic schedules")
        return payload

    @client.job(
        id="register-schedule",
        name="Register",
        version="0.0.1",
        trigger=event_trigger(name="foo.bar"),
    )
    async def register(payload: dict[str, Any], io: Io, ctx: RunContext) -> Any:
        if payload.get("remove"):
            return await dynamic.unregister("schedule_123")
        return await dynamic.register("schedule_123", EVERY_MINUTE)

    client.define_dynamic_schedule(id="unused")
    return client


async def test_a_schedule_registered_from_the_backend_fires_for_its_account(
    runtime: Authward,
) -> None:
    clock = FakeClock()
    seen: list[RunContext] = []
    client = schedule_client(seen)
    jobs = await bind(runtime, client, clock=clock)
    dynamic = client.dynamic_schedules["my-schedule"]

    info = await dynamic.register("schedule_123", EVERY_MINUTE)

    assert info["next_at"] == (T0 + timedelta(seconds=60)).isoformat()
    [schedule] = await jobs.list_schedules("my-schedule")
    assert (schedule.schedule_id, schedule.account_id, schedule.options) == (
        "schedule_123",
        "user_123",
        {"seconds": 60},
    )
    assert await jobs.scheduler.tick(T0 + timedelta(seconds=59)) == []
    [run_id] = await jobs.scheduler.tick(T0 + timedelta(seconds=60))
    assert await jobs.scheduler.tick(T0 + timedelta(seconds=61)) == []  # that occurrence is done

    run = await wait_for(runtime, run_id)
    assert run.status == "succeeded", run.error
    assert run.account_id == "user_123"
    assert run.event_name == "schedule"
    assert run.output == {
        "ts": (T0 + timedelta(seconds=60)).isoformat(),
        "last_timestamp": None,
        "schedule_id": "schedule_123",
    }
    assert seen[0].account is not None
    assert seen[0].account.id == "user_123"

    [second] = await jobs.scheduler.tick(T0 + timedelta(seconds=125))
    later = await wait_for(runtime, second)
    assert later.output["ts"] == (T0 + timedelta(seconds=120)).isoformat()
    assert later.output["last_timestamp"] == (T0 + timedelta(seconds=60)).isoformat()


async def test_re_registering_replaces_and_unregistering_stops_it(runtime: Authward) -> None:
    clock = FakeClock()
    client = schedule_client()
    jobs = await bind(runtime, client, clock=clock, worker=False)
    dynamic = client.dynamic_schedules["my-schedule"]
    await dynamic.register("schedule_123", EVERY_MINUTE)

    clock.advance(30)
    await dynamic.register(
        "schedule_123",
        {"type": "cron", "options": {"cron": "0 12 * * *"}, "account_id": "user_456"},
    )

    [schedule] = await jobs.list_schedules()
    assert (schedule.type, schedule.account_id) == ("cron", "user_456")
    assert schedule.options == {"cron": "0 12 * * *", "timezone": "UTC"}
    assert schedule.next_at == datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert await jobs.scheduler.tick(T0 + timedelta(seconds=60)) == []  # the interval is gone
    [run_id] = await jobs.scheduler.tick(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    assert (await jobs.get_run(run_id)).account_id == "user_456"  # type: ignore[union-attr]

    assert await dynamic.unregister("schedule_123")
    assert not await dynamic.unregister("schedule_123")
    assert await jobs.list_schedules() == []
    assert await jobs.scheduler.tick(datetime(2026, 1, 9, tzinfo=UTC)) == []


async def test_register_and_unregister_inside_a_run_are_tasks(runtime: Authward) -> None:
    clock = FakeClock()
    client = schedule_client()
    jobs = await bind(runtime, client, clock=clock)

    sent = await client.send_event({"name": "foo.bar", "payload": {}})
    run = await wait_for(runtime, sent.run_ids[0])

    assert run.status == "succeeded", run.error
    [task] = run.tasks
    assert (task.key, task.name, task.status) == (
        "register:my-schedule:schedule_123",
        "register schedule",
        "succeeded",
    )
    assert task.output["account_id"] == "user_123"
    [schedule] = await jobs.list_schedules()
    assert schedule.account_id == "user_123"

    removed = await wait_for(
        runtime, (await client.send_event({"name": "foo.bar", "payload": {"remove": 1}})).run_ids[0]
    )
    assert [(t.key, t.output) for t in removed.tasks] == [
        ("unregister:my-schedule:schedule_123", True)
    ]
    assert await jobs.list_schedules() == []


@pytest.mark.parametrize(
    ("registration", "path"),
    [
        ({"type": "interval", "options": {"seconds": 30}}, "options.seconds"),
        ({"type": "interval", "options": {"seconds": "60"}}, "options.seconds"),
        ({"type": "cron", "options": {"cron": "61 * * * *"}}, "options.cron"),
        ({"type": "cron", "options": {"cron": "* * * *"}}, "options.cron"),
        (
            {"type": "cron", "options": {"cron": "0 * * * *", "timezone": "Mars/Base"}},
            "options.timezone",
        ),
        ({"type": "weekly", "options": {}}, "type"),
        ({"type": "interval", "options": {"seconds": 60, "jitter": 1}}, "options.jitter"),
        ({"type": "interval", "options": {"seconds": 60}, "accountId": "x"}, "accountId"),
    ],
)
async def test_invalid_registrations_name_the_field_and_store_nothing(
    sqlite_runtime: Authward, registration: dict[str, Any], path: str
) -> None:
    client = schedule_client()
    await bind(sqlite_runtime, client, worker=False)

    with pytest.raises(ConfigError) as refused:
        await client.dynamic_schedules["my-schedule"].register("s", registration)

    assert refused.value.issues[0].path == path
    assert await table_count(sqlite_runtime, "aw_job_schedules") == 0


async def test_registering_on_a_dynamic_schedule_no_job_uses_is_refused(
    runtime: Authward,
) -> None:
    client = schedule_client()
    await bind(runtime, client, worker=False)

    with pytest.raises(ConfigError, match="no job uses dynamic schedule 'unused'"):
        await client.dynamic_schedules["unused"].register("s", EVERY_MINUTE)
    assert await table_count(runtime, "aw_job_schedules") == 0


def static_client() -> JobClient:
    client = JobClient(id="static")

    async def noop(payload: Any, io: Io, ctx: RunContext) -> Any:
        return payload

    client.define_job(
        id="every-minute", name="m", version="1", trigger=interval_trigger(seconds=60), run=noop
    )
    client.define_job(
        id="paris-3am",
        name="d",
        version="1",
        trigger=cron_trigger(cron="0 3 * * *", timezone="Europe/Paris"),
        run=noop,
    )
    return client


async def test_interval_and_cron_jobs_fire_on_their_clock(runtime: Authward) -> None:
    jobs = await bind(runtime, static_client(), clock=FakeClock(), worker=False)

    [minute] = await jobs.scheduler.tick(T0 + timedelta(seconds=60))
    await jobs.scheduler.tick(datetime(2026, 1, 6, 1, 59, 59, tzinfo=UTC))
    assert await jobs.list_runs(job_id="paris-3am") == []
    # 03:00 in Paris on 6 January is 02:00 UTC.
    fired = await jobs.scheduler.tick(datetime(2026, 1, 6, 2, 0, tzinfo=UTC))
    [night] = [r.id for r in await jobs.list_runs(job_id="paris-3am")]
    assert night in fired

    assert (await jobs.get_run(minute)).job_id == "every-minute"  # type: ignore[union-attr]
    run = await jobs.get_run(night)
    assert run is not None
    assert run.job_id == "paris-3am"
    assert run.payload["ts"] == "2026-01-06T02:00:00+00:00"
    assert run.account_id is None


async def test_a_long_outage_fires_the_latest_missed_occurrence_once(runtime: Authward) -> None:
    jobs = await bind(runtime, static_client(), clock=FakeClock(), worker=False)

    fired = await jobs.scheduler.tick(T0 + timedelta(minutes=10, seconds=5))

    runs = [await jobs.get_run(r) for r in fired]
    minute = [r for r in runs if r is not None and r.job_id == "every-minute"]
    assert len(minute) == 1
    assert minute[0].payload["ts"] == (T0 + timedelta(minutes=10)).isoformat()


async def test_each_occurrence_fires_once_however_many_processes_tick(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    opened = [
        await Authward.open(example_config, settings_for(database_url), migrate=True)
        for _ in range(3)
    ]
    try:
        runtimes = []
        for aw in opened:
            aw.jobs = JobsRuntime(aw.jobs.ports, [static_client()], clock=FakeClock())
            await aw.jobs.start(worker=False, scheduler=False)
            runtimes.append(aw.jobs)
        for minutes in range(1, 4):
            now = T0 + timedelta(minutes=minutes)
            await asyncio.gather(*(r.scheduler.tick(now) for r in runtimes))
        runs = await runtimes[0].list_runs(job_id="every-minute")
        assert len(runs) == 3
        assert len({r.id for r in runs}) == 3
    finally:
        for aw in opened:
            await aw.close()
