"""Inside a run: memoised tasks across a durable wait, retries with backoff, timeout, cancel,
outputs that cannot be stored, the integration hook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel

from authward.config import Config
from authward.jobs import (
    EventRejected,
    Io,
    JobClient,
    RetryPolicy,
    RunContext,
    UnknownJob,
    event_trigger,
)
from authward.runtime import Authward
from tests.conftest import PG_ADMIN_URL, SettingsFactory
from tests.integration.jobs_support import (
    T0,
    FakeClock,
    bind,
    count_effect,
    create_counter,
    effects,
    wait_for,
    wait_until,
)


def event_job(client: JobClient, job_id: str, **options: Any) -> Callable[[Any], Any]:
    return client.job(
        id=job_id, name=job_id, version="1", trigger=event_trigger(name=job_id), **options
    )


async def start(client: JobClient, job_id: str, account_id: str | None = None) -> str:
    sent = await client.send_event({"name": job_id, "payload": {}}, account_id=account_id)
    return sent.run_ids[0]


@pytest.fixture
async def single_slot(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    """A runtime whose worker executes one run at a time."""
    settings = settings_for(database_url, jobs_concurrency=1, jobs_recovery_seconds=3)
    aw = await Authward.open(example_config, settings, migrate=True)
    yield aw
    await aw.close()


async def test_a_waiting_run_holds_no_worker_and_its_completed_tasks_never_run_again(
    single_slot: Authward,
) -> None:
    aw = single_slot
    await create_counter(aw)
    clock = FakeClock()
    client = JobClient(id="c")

    async def charge() -> str:
        await count_effect(aw, "charge")
        return "charged"

    @event_job(client, "slow")
    async def slow(payload: Any, io: Io, ctx: RunContext) -> str:
        await io.logger.info("before the wait")
        first = await io.run_task("charge", charge)
        await io.wait("a day", seconds=86_400)
        await io.run_task("notify", lambda: count_effect(aw, "notify"))
        return f"{first} and notified"

    @event_job(client, "quick")
    async def quick(payload: Any, io: Io, ctx: RunContext) -> str:
        return "done"

    await bind(aw, client, clock=clock)
    slow_id = await start(client, "slow")
    waiting = await wait_for(aw, slow_id, "waiting")
    assert waiting.resume_at == T0 + timedelta(days=1)
    assert [(t.key, t.status) for t in waiting.tasks] == [
        ("charge", "succeeded"),
        ("a day", "waiting"),
    ]
    # One worker slot, and it is free: another run goes through while the first one waits.
    assert (await wait_for(aw, await start(client, "quick"))).status == "succeeded"

    clock.advance(86_400)
    aw.jobs.wake()
    done = await wait_for(aw, slow_id)

    assert done.status == "succeeded", done.error
    assert done.output == "charged and notified"
    assert await effects(aw) == {"charge": 1, "notify": 1}
    assert done.attempts == 1  # one execution: waiting does not end it (the engine keeps it)
    assert [entry.message for entry in done.logs] == ["before the wait"]  # not logged twice
    assert [t.key for t in done.tasks] == ["charge", "a day", "notify"]


async def test_a_failing_task_is_retried_with_exponential_backoff(runtime: Authward) -> None:
    clock = FakeClock()
    attempts: list[Any] = []
    client = JobClient(id="c")

    def flaky() -> str:
        attempts.append(clock())
        if len(attempts) < 3:
            raise ConnectionError(f"try {len(attempts)}")
        return "ok"

    @event_job(client, "flaky")
    async def job(payload: Any, io: Io, ctx: RunContext) -> Any:
        return await io.run_task(
            "call", flaky, retry=RetryPolicy(limit=3, min_seconds=10, factor=3)
        )

    await bind(runtime, client, clock=clock)
    run_id = await start(client, "flaky")

    first = await wait_for(runtime, run_id, "waiting")
    assert first.resume_at == T0 + timedelta(seconds=10)
    assert first.tasks[0].error == "ConnectionError: try 1"
    clock.advance(10)
    runtime.jobs.wake()
    second = await wait_until(
        runtime, run_id, lambda r: r.status == "waiting" and r.tasks[0].attempts == 2
    )
    assert second.resume_at == clock() + timedelta(seconds=30)  # 10 * 3
    clock.advance(30)
    runtime.jobs.wake()
    done = await wait_for(runtime, run_id)

    assert done.status == "succeeded"
    assert done.output == "ok"
    assert done.tasks[0].attempts == 3
    assert done.tasks[0].error is None
    assert attempts == [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=40)]


async def test_a_task_failing_on_its_last_attempt_fails_the_run(runtime: Authward) -> None:
    client = JobClient(id="c")

    def broken() -> None:
        raise ValueError("upstream said no")

    @event_job(client, "broken", retry=RetryPolicy(limit=2, min_seconds=0))
    async def job(payload: Any, io: Io, ctx: RunContext) -> None:
        await io.run_task("call", broken)

    await bind(runtime, client)
    run = await wait_for(runtime, await start(client, "broken"))

    assert run.status == "failed"
    assert run.error == "task 'call' failed after 2 attempts: ValueError: upstream said no"
    assert (run.tasks[0].status, run.tasks[0].attempts) == ("failed", 2)


async def test_run_function_errors_fail_the_run_with_their_message(runtime: Authward) -> None:
    client = JobClient(id="c")

    @event_job(client, "boom")
    async def job(payload: Any, io: Io, ctx: RunContext) -> None:
        raise RuntimeError("boom")

    await bind(runtime, client)
    run = await wait_for(runtime, await start(client, "boom"))
    assert (run.status, run.error) == ("failed", "RuntimeError: boom")


async def test_outputs_that_cannot_be_stored_fail_clearly_and_are_not_retried(
    runtime: Authward,
) -> None:
    client = JobClient(id="c")
    calls: list[int] = []

    @event_job(client, "sets", retry=RetryPolicy(limit=5, min_seconds=0))
    async def job(payload: Any, io: Io, ctx: RunContext) -> None:
        await io.run_task("tags", lambda: calls.append(1) or {"a", "b"})

    await bind(runtime, client)
    run = await wait_for(runtime, await start(client, "sets"))

    assert run.status == "failed"
    assert run.error is not None
    assert "task 'tags' returned a set" in run.error
    assert "JSON-serialisable" in run.error
    assert calls == [1]


async def test_a_task_key_used_twice_in_one_run_is_an_error(runtime: Authward) -> None:
    client = JobClient(id="c")

    @event_job(client, "twice")
    async def job(payload: Any, io: Io, ctx: RunContext) -> None:
        await io.run_task("same", lambda: 1)
        await io.run_task("same", lambda: 2)

    await bind(runtime, client)
    run = await wait_for(runtime, await start(client, "twice"))
    assert run.status == "failed"
    assert "task key 'same' is used twice" in (run.error or "")


async def test_catching_every_exception_does_not_swallow_a_suspension(runtime: Authward) -> None:
    clock = FakeClock()
    client = JobClient(id="c")

    @event_job(client, "greedy")
    async def job(payload: Any, io: Io, ctx: RunContext) -> str:
        try:
            await io.wait("later", seconds=60)
        except Exception:
            return "swallowed"
        return "resumed"

    await bind(runtime, client, clock=clock)
    run_id = await start(client, "greedy")
    assert (await wait_for(runtime, run_id, "waiting")).output is None
    clock.advance(60)
    runtime.jobs.wake()
    assert (await wait_for(runtime, run_id)).output == "resumed"


async def test_a_run_past_its_timeout_ends_timed_out(runtime: Authward) -> None:
    client = JobClient(id="c")

    @event_job(client, "stuck", timeout_seconds=0.2)
    async def job(payload: Any, io: Io, ctx: RunContext) -> None:
        await io.run_task("first", lambda: 1)
        await asyncio.sleep(3600)

    await bind(runtime, client)
    run = await wait_for(runtime, await start(client, "stuck"))

    assert run.status == "timed_out"
    assert run.error == "the run took longer than its timeout (0.2s)"
    assert [t.status for t in run.tasks] == ["succeeded"]


async def test_cancel_interrupts_a_running_run(runtime: Authward) -> None:
    client = JobClient(id="c")
    started = asyncio.Event()
    interrupted = asyncio.Event()

    @event_job(client, "forever")
    async def job(payload: Any, io: Io, ctx: RunContext) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            interrupted.set()

    await bind(runtime, client)
    run_id = await start(client, "forever")
    await started.wait()

    assert await runtime.jobs.cancel_run(run_id)
    await interrupted.wait()
    run = await wait_for(runtime, run_id)
    assert run.status == "cancelled"
    assert run.finished_at is not None
    assert not await runtime.jobs.cancel_run(run_id)  # already final
    assert not await runtime.jobs.cancel_run("run_unknown")


async def test_a_cancel_made_elsewhere_interrupts_the_run(single_slot: Authward) -> None:
    aw = single_slot
    client = JobClient(id="c")
    started = asyncio.Event()
    interrupted = asyncio.Event()

    @event_job(client, "forever")
    async def job(payload: Any, io: Io, ctx: RunContext) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            interrupted.set()

    await bind(aw, client)
    run_id = await start(client, "forever")
    await started.wait()
    # Another process cancels: only the store changes, this process is not told.
    assert await aw.jobs.store.cancel(run_id, aw.jobs.clock())
    await interrupted.wait()  # at its next look (every sixth of AUTHWARD_JOBS_RECOVERY_SECONDS)
    assert (await wait_for(aw, run_id)).status == "cancelled"


async def test_a_cancelled_waiting_run_never_resumes(runtime: Authward) -> None:
    clock = FakeClock()
    client = JobClient(id="c")
    resumed: list[bool] = []

    @event_job(client, "waits")
    async def job(payload: Any, io: Io, ctx: RunContext) -> None:
        await io.wait("w", seconds=60)
        resumed.append(True)

    await bind(runtime, client, clock=clock)
    run_id = await start(client, "waits")
    await wait_for(runtime, run_id, "waiting")
    assert await runtime.jobs.cancel_run(run_id)
    clock.advance(120)
    runtime.jobs.wake()
    await asyncio.sleep(0.2)  # the wait is over: the run sees that it was cancelled, and ends
    assert (await wait_for(runtime, run_id)).status == "cancelled"
    assert resumed == []


class FakeIntegration:
    """The shape issue 6's integrations take: an id, and bind(io, ctx) -> namespace of tasks."""

    def __init__(self, id: str) -> None:
        self.id = id

    def bind(self, io: Io, ctx: RunContext) -> Any:
        account = ctx.account.id if ctx.account else None

        async def post_message(key: str, text: str) -> Any:
            return await io.run_task(
                key,
                lambda: {"posted": text},
                integration=self.id,
                credential_source="resolver",
                credential_account=account,
            )

        return SimpleNamespace(post_message=post_message)


async def test_integrations_are_reached_through_io_and_record_lineage(runtime: Authward) -> None:
    client = JobClient(id="c")
    errors: list[str] = []

    @event_job(client, "post", integrations={"slack": FakeIntegration("byo-slack")})
    async def job(payload: Any, io: Io, ctx: RunContext) -> Any:
        try:
            io.github  # noqa: B018 - not an integration of this job
        except AttributeError as exc:
            errors.append(str(exc))
        return await io.slack.post_message("💬", "hello")

    await bind(runtime, client)
    run = await wait_for(runtime, await start(client, "post", account_id="user_123"))

    assert run.status == "succeeded"
    assert run.output == {"posted": "hello"}
    task = run.tasks[0]
    assert (task.key, task.integration, task.credential_source, task.credential_account) == (
        "💬",
        "byo-slack",
        "resolver",
        "user_123",
    )
    assert errors == ["io has no attribute 'github'; integrations of this job: slack"]
    assert client.jobs["post"].integrations["slack"].id == "byo-slack"


async def test_stopping_the_worker_gives_runs_back_and_they_resume(runtime: Authward) -> None:
    client = JobClient(id="c")
    second_half = asyncio.Event()
    calls: list[str] = []

    @event_job(client, "long")
    async def job(payload: Any, io: Io, ctx: RunContext) -> int:
        await io.run_task("first", lambda: calls.append("first"))
        if ctx.attempt == 1:
            second_half.set()
            await asyncio.Event().wait()  # interrupted by the stop
        return ctx.attempt

    jobs = await bind(runtime, client)
    run_id = await start(client, "long")
    await second_half.wait()
    await jobs.stop()

    stopped = await runtime.jobs.get_run(run_id)
    assert stopped is not None
    assert stopped.status == "queued"  # handed back to the queue at once, for any worker
    await jobs.start()
    done = await wait_for(runtime, run_id)
    assert (done.status, done.output, calls) == ("succeeded", 2, ["first"])


async def test_test_job_checks_the_job_and_its_payload(runtime: Authward) -> None:
    class Order(BaseModel):
        id: str

    client = JobClient(id="c")

    @client.job(id="order", name="o", version="1", trigger=event_trigger(name="o", schema=Order))
    async def order(payload: Order, io: Io, ctx: RunContext) -> str:
        return payload.id

    await bind(runtime, client)
    with pytest.raises(UnknownJob, match="no job 'ordr' \\(known: order\\)"):
        await runtime.jobs.test_job("ordr", {})
    with pytest.raises(EventRejected, match="id"):
        await runtime.jobs.test_job("order", {"number": 1})
    assert await runtime.jobs.get_run("run_missing") is None
    run = await wait_for(runtime, await runtime.jobs.test_job("order", {"id": "o-1"}))
    assert (run.output, run.event_name) == ("o-1", "test")


async def test_a_run_survives_its_database_connections_being_cut(
    postgres_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    settings = settings_for(postgres_url, jobs_recovery_seconds=3, jobs_poll_seconds=0.1)
    aw = await Authward.open(example_config, settings, migrate=True)
    try:
        await create_counter(aw)
        client = JobClient(id="c")
        cut = asyncio.Event()

        async def charge() -> None:
            await count_effect(aw, "charge")

        @event_job(client, "cut")
        async def job(payload: Any, io: Io, ctx: RunContext) -> int:
            await io.run_task("charge", charge)
            if ctx.attempt == 1:
                await cut.wait()
            await io.run_task("after", lambda: "written on a fresh connection")
            return ctx.attempt

        await bind(aw, client)
        run_id = await start(client, "cut")
        await wait_until(aw, run_id, lambda r: [t.key for t in r.tasks] == ["charge"])
        # Every connection of the pool dies, as in a database restart.
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                postgres_url.rsplit("/", 1)[1],
            )
        finally:
            await admin.close()
        cut.set()
        done = await wait_for(aw, run_id)

        # Finished either on the first execution (the pool replaced its dead connections before
        # the next write) or on a replay after the write failed: the charge happened once.
        assert done.status == "succeeded", done.error
        assert await effects(aw) == {"charge": 1}
        assert [t.key for t in done.tasks] == ["charge", "after"]
    finally:
        await aw.close()
