"""The cap on lost claims (AUTHWARD_JOBS_MAX_CLAIMS): a run whose worker vanishes that many times
in a row is failed instead of being claimed again; a suspension starts the count again, and a
worker that stops cleanly costs nothing. A vanished worker is one that claimed the run and never
wrote anything again, which is what the store sees of a process killed mid-run (the real
`kill -9` is in test_jobs_worker_process.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from authward.config import Config
from authward.jobs import Io, JobClient, JobsRuntime, RunContext, event_trigger
from authward.runtime import Authward
from tests.conftest import SettingsFactory
from tests.integration.jobs_support import FakeClock, bind, wait_for

LEASE = 30


@pytest.fixture
async def capped(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    settings = settings_for(database_url, jobs_max_claims=2, jobs_lease_seconds=LEASE)
    aw = await Authward.open(example_config, settings, migrate=True)
    yield aw
    await aw.close()


async def vanish(jobs: JobsRuntime, clock: FakeClock, job_id: str) -> None:
    """A worker claims the due run and dies: nothing more is written, the lease runs out."""
    claimed = await jobs.store.claim_due("dead-worker", [job_id], 1, clock.now, LEASE)
    assert len(claimed) == 1
    clock.advance(LEASE + 1)


async def test_a_run_whose_worker_vanishes_max_claims_times_in_a_row_fails(
    capped: Authward,
) -> None:
    clock = FakeClock()
    client = JobClient(id="c")
    executed: list[int] = []

    @client.job(id="poison", name="p", version="1", trigger=event_trigger(name="poison"))
    async def poison(payload: Any, io: Io, ctx: RunContext) -> str:
        executed.append(ctx.attempt)
        return "ran"

    jobs = await bind(capped, client, clock=clock, worker=False)
    [run_id] = (await client.send_event({"name": "poison"}, account_id="user_123")).run_ids
    await vanish(jobs, clock, "poison")
    await vanish(jobs, clock, "poison")  # taken over once, and lost again

    assert await jobs.worker.claim_once() == 0  # a live worker does not get it a third time
    run = await jobs.get_run(run_id)
    assert run is not None
    assert (run.status, run.attempts, run.account_id) == ("failed", 2, "user_123")
    assert run.error is not None
    assert "given up after 2 claims in a row whose worker went away" in run.error
    assert "AUTHWARD_JOBS_MAX_CLAIMS=2" in run.error
    assert run.finished_at == clock.now
    clock.advance(LEASE * 10)
    assert await jobs.worker.claim_once() == 0  # final: never claimed again
    assert executed == []


async def test_a_suspension_starts_the_count_of_lost_claims_again(capped: Authward) -> None:
    clock = FakeClock()
    client = JobClient(id="c")

    @client.job(id="patient", name="p", version="1", trigger=event_trigger(name="patient"))
    async def patient(payload: Any, io: Io, ctx: RunContext) -> int:
        await io.wait("pause", seconds=60)
        return ctx.attempt

    jobs = await bind(capped, client, clock=clock, worker=False)
    [run_id] = (await client.send_event({"name": "patient"})).run_ids
    await vanish(jobs, clock, "patient")  # lost once
    assert await jobs.worker.claim_once() == 1  # taken over: it reaches its wait
    await wait_for(capped, run_id, "waiting")
    clock.advance(61)
    await vanish(jobs, clock, "patient")  # lost once more, but not twice in a row

    assert await jobs.worker.claim_once() == 1
    run = await wait_for(capped, run_id)
    assert (run.status, run.output, run.error) == ("succeeded", 4, None)


async def test_a_worker_stopped_cleanly_costs_its_runs_no_claim(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    settings = settings_for(database_url, jobs_max_claims=1)
    aw = await Authward.open(example_config, settings, migrate=True)
    try:
        client = JobClient(id="c")
        halfway = asyncio.Event()

        @client.job(id="long", name="l", version="1", trigger=event_trigger(name="long"))
        async def long(payload: Any, io: Io, ctx: RunContext) -> int:
            if ctx.attempt < 3:
                halfway.set()
                await asyncio.Event().wait()  # interrupted by the stop
            return ctx.attempt

        jobs = await bind(aw, client)
        [run_id] = (await client.send_event({"name": "long"})).run_ids
        for _ in range(2):  # two deploys in a row, each stopping the worker with the run in it
            await halfway.wait()
            halfway.clear()
            await jobs.stop()
            await jobs.start()

        run = await wait_for(aw, run_id)
        assert (run.status, run.output) == ("succeeded", 3)
    finally:
        await aw.close()
