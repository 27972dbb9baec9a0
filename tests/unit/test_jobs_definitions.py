"""Job definitions are checked when the app module is imported: each mistake names its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from authward.errors import ConfigError
from authward.jobs import (
    Io,
    JobClient,
    RetryPolicy,
    RunContext,
    TaskOutputError,
    cron_trigger,
    event_trigger,
    interval_trigger,
)
from authward.jobs.cron import ScheduleSpec, parse_schedule
from authward.jobs.io import to_json


async def run(payload: Any, io: Io, ctx: RunContext) -> None:
    return None


def path_of(error: pytest.ExceptionInfo[ConfigError]) -> str:
    return error.value.issues[0].path


def test_a_job_id_defined_twice_is_refused() -> None:
    client = JobClient(id="app")
    client.define_job(id="a", name="A", version="1", trigger=event_trigger(name="e"), run=run)

    with pytest.raises(ConfigError, match="defined twice") as refused:

        @client.job(id="a", name="A again", version="2", trigger=event_trigger(name="e"))
        async def again(payload: Any, io: Io, ctx: RunContext) -> None: ...

    assert path_of(refused) == "jobs.a"
    assert client.jobs["a"].name == "A"  # the first definition stands


@pytest.mark.parametrize(
    ("make", "path"),
    [
        (lambda: interval_trigger(seconds=59), "trigger.seconds"),
        (lambda: interval_trigger(seconds=90.5), "trigger.seconds"),
        (lambda: cron_trigger(cron="*/5 * * *"), "trigger.cron"),
        (lambda: cron_trigger(cron="0 25 * * *"), "trigger.cron"),
        (lambda: cron_trigger(cron="0 * * * * *"), "trigger.cron"),
        (lambda: cron_trigger(cron="0 3 * * *", timezone="Paris"), "trigger.timezone"),
        (lambda: event_trigger(name=""), "name"),
        (lambda: event_trigger(name="e", schema=dict), "schema"),  # type: ignore[arg-type]
    ],
)
def test_bad_triggers_name_the_field(make: Any, path: str) -> None:
    with pytest.raises(ConfigError) as refused:
        make()
    assert path_of(refused) == path


def test_interval_below_the_minimum_says_so() -> None:
    with pytest.raises(ConfigError, match=r"trigger\.seconds: must be at least 60 \(got 30\)"):
        interval_trigger(seconds=30)


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"id": "bad id!", "name": "n", "version": "1"}, "jobs.bad id!.id"),
        ({"id": "j", "name": "", "version": "1"}, "jobs.j.name"),
        ({"id": "j", "name": "n", "version": ""}, "jobs.j.version"),
        ({"id": "j", "name": "n", "version": "1", "trigger": "every day"}, "jobs.j.trigger"),
        ({"id": "j", "name": "n", "version": "1", "run": lambda p, i, c: None}, "jobs.j.run"),
        ({"id": "j", "name": "n", "version": "1", "timeout_seconds": 0}, "jobs.j.timeout_seconds"),
        (
            {"id": "j", "name": "n", "version": "1", "integrations": {"slack": object()}},
            "jobs.j.integrations.slack",
        ),
    ],
)
def test_bad_job_definitions_name_the_field(options: dict[str, Any], path: str) -> None:
    client = JobClient(id="app")
    arguments = {"trigger": event_trigger(name="e"), "run": run, **options}
    with pytest.raises(ConfigError) as refused:
        client.define_job(**arguments)
    assert path_of(refused) == path
    assert client.jobs == {}


def test_a_dynamic_schedule_of_another_client_is_refused() -> None:
    first, second = JobClient(id="one"), JobClient(id="two")
    dynamic = first.define_dynamic_schedule(id="s")
    with pytest.raises(ConfigError, match="belongs to client 'one'"):
        second.define_job(id="j", name="n", version="1", trigger=dynamic, run=run)
    with pytest.raises(ConfigError, match="defined twice"):
        first.define_dynamic_schedule(id="s")


def test_the_decorator_returns_the_job() -> None:
    client = JobClient(id="app")

    class Post(BaseModel):
        id: str

    @client.job(
        id="p", name="Post", version="1.0.0", trigger=event_trigger(name="post", schema=Post)
    )
    async def post(payload: Post, io: Io, ctx: RunContext) -> None: ...

    assert client.jobs["p"] is post
    assert post.describe_trigger() == "event post"
    assert post.retry == RetryPolicy()


@pytest.mark.parametrize(
    ("policy", "path"),
    [
        ({"limit": 0}, "retry.limit"),
        ({"factor": 0.5}, "retry.factor"),
        ({"min_seconds": -1}, "retry.min_seconds"),
        ({"min_seconds": 10, "max_seconds": 5}, "retry.max_seconds"),
    ],
)
def test_retry_policies_are_checked(policy: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as refused:
        RetryPolicy(**policy)
    assert path_of(refused) == path


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(limit=10, factor=2, min_seconds=1, max_seconds=10)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


ANCHOR = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)


def test_interval_occurrences_count_from_the_anchor() -> None:
    spec = parse_schedule("interval", {"seconds": 60})
    minute = timedelta(seconds=60)
    assert spec.next_after(ANCHOR, ANCHOR) == ANCHOR + minute
    assert spec.next_after(ANCHOR + minute, ANCHOR) == ANCHOR + 2 * minute
    assert spec.latest_at_or_before(ANCHOR + minute - timedelta(microseconds=1), ANCHOR) is None
    assert spec.latest_at_or_before(ANCHOR + 150 * minute + timedelta(seconds=5), ANCHOR) == (
        ANCHOR + 150 * minute
    )


def test_cron_follows_the_wall_clock_of_its_time_zone_across_dst() -> None:
    spec = ScheduleSpec("cron", cron="30 2 * * *", timezone="Europe/Paris")
    # 29 March 2026: Paris skips 02:00-03:00, so that day's 02:30 happens at 03:00 local.
    before = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert spec.next_after(before, before) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    summer = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    assert spec.next_after(summer, before) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)
    exact = datetime(2026, 3, 30, 0, 30, tzinfo=UTC)
    assert spec.latest_at_or_before(exact, before) == exact


def test_outputs_must_be_json() -> None:
    class Out(BaseModel):
        at: datetime

    assert to_json((1, "a"), "task 'k'") == [1, "a"]
    assert to_json(Out(at=ANCHOR), "task 'k'") == {"at": "2026-01-05T09:00:00.123456Z"}
    with pytest.raises(
        TaskOutputError, match=r"task 'k' returned a datetime, which cannot be stored"
    ):
        to_json(ANCHOR, "task 'k'")
    with pytest.raises(TaskOutputError, match="cannot be stored"):
        to_json(float("nan"), "task 'k'")
