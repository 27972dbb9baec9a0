"""Workers' liveness records (store/job_workers.py) and the sweep that recovers dead workers
(jobs/liveness.py), on SQLite and PostgreSQL: exactly one of several claimers wins a stale
worker, a worker that still beats is never claimed, and a worker id restarting while another
worker recovers it waits for the recovery to end. The recovery of real runs by real processes
is in test_jobs_worker_process.py."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.jobs import Io, JobClient, RunContext, event_trigger
from authward.jobs.errors import WorkerIdInUse
from authward.jobs.liveness import Liveness
from authward.runtime import Authward
from authward.store.engine import create_engine
from authward.store.job_workers import StaleWorker, WorkerRecords
from tests.integration.jobs_support import FINAL, bind, wait_for, wait_until

RECOVERY = 1.2  # seconds: dead after 0.6 s without a heartbeat


def liveness(aw: Authward, worker_id: str, recovery: float = RECOVERY) -> Liveness:
    async def rejoin() -> None:
        raise AssertionError(f"{worker_id} was taken for dead")

    return Liveness(
        records=WorkerRecords(aw.engine),
        engine=aw.jobs.engine,
        runs=aw.jobs.store,
        worker_id=worker_id,
        recovery_seconds=recovery,
        rejoin=rejoin,
    )


async def dead_worker(records: WorkerRecords, worker_id: str = "dead") -> StaleWorker:
    """A worker that registered a minute ago and never beat again (what kill -9 leaves)."""
    then = datetime.now(UTC) - timedelta(minutes=1)
    assert await records.register(worker_id, "gone", then, then - timedelta(days=1)) == "registered"
    [stale] = await records.stale(datetime.now(UTC) - timedelta(seconds=RECOVERY / 2), "x")
    return stale


async def test_exactly_one_of_several_concurrent_claimers_wins_a_stale_worker(
    runtime: Authward,
) -> None:
    stale = await dead_worker(WorkerRecords(runtime.engine))
    # Each claimer on its own engine (its own connections), as separate processes would be.
    engines: list[AsyncEngine] = [create_engine(str(runtime.engine.url)) for _ in range(6)]
    try:
        won = await asyncio.gather(
            *(
                WorkerRecords(engine).claim(stale, f"survivor-{n}", datetime.now(UTC))
                for n, engine in enumerate(engines)
            )
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert sorted(won) == [False] * 5 + [True]
    # The claim moved the heartbeat: the stale snapshot every loser read cannot win later.
    assert not await WorkerRecords(runtime.engine).claim(stale, "late", datetime.now(UTC))


async def test_one_sweep_of_several_workers_recovers_a_dead_worker(
    runtime: Authward, caplog: pytest.LogCaptureFixture
) -> None:
    await runtime.jobs.engine.open()
    survivors = [liveness(runtime, f"survivor-{n}") for n in range(3)]
    for survivor in survivors:
        await survivor.register()
    await dead_worker(WorkerRecords(runtime.engine))

    with caplog.at_level(logging.WARNING, logger="authward.jobs"):
        await asyncio.gather(*(s.tick() for s in survivors))

    recoveries = [r.getMessage() for r in caplog.records if "stopped answering" in r.getMessage()]
    assert len(recoveries) == 1, recoveries
    assert "worker dead stopped answering" in recoveries[0]
    # Its record is gone once recovered; the survivors' stay and were never claimed.
    left = await WorkerRecords(runtime.engine).stale(datetime.now(UTC) + timedelta(days=1), "x")
    assert sorted(w.id for w in left) == ["survivor-0", "survivor-1", "survivor-2"]


async def test_a_worker_that_beats_is_never_claimed(runtime: Authward) -> None:
    records = WorkerRecords(runtime.engine)
    stale = await dead_worker(records, "slow")
    # It beats after the claimer read it as stale (a slow heartbeat, not a dead worker).
    assert await records.beat("slow", "gone", datetime.now(UTC))
    assert not await records.claim(stale, "survivor", datetime.now(UTC))
    assert await records.stale(datetime.now(UTC) - timedelta(seconds=RECOVERY / 2), "x") == []

    fresh = liveness(runtime, "fresh")
    await fresh.register()
    sweeper = liveness(runtime, "sweeper")
    await sweeper.register()
    await sweeper.tick()
    await fresh.tick()  # its record is still its own (taken, it would rejoin: an error here)


async def test_a_restarting_worker_id_waits_while_another_worker_recovers_it(
    runtime: Authward,
) -> None:
    records = WorkerRecords(runtime.engine)
    stale = await dead_worker(records, "w1")
    assert await records.claim(stale, "survivor", datetime.now(UTC))

    # Retrying every second; the claim stays fresh for 3 s (a recoverer that dies is retaken).
    restart = asyncio.create_task(liveness(runtime, "w1", recovery=6).register())
    for _ in range(3):  # a few of its retries: it keeps waiting
        await asyncio.sleep(0.5)
        assert not restart.done()
    await records.forget("w1", by="survivor")  # the recovery is done
    await restart  # registered now
    assert await records.stale(datetime.now(UTC) - timedelta(seconds=RECOVERY / 2), "x") == []


async def test_a_second_worker_with_the_id_of_a_live_one_refuses(runtime: Authward) -> None:
    first = liveness(runtime, "w1")
    await first.register()
    await first.start()  # heartbeats
    try:
        with pytest.raises(WorkerIdInUse, match="worker id 'w1' is in use by a running worker"):
            await liveness(runtime, "w1").register()
    finally:
        await first.stop()


async def test_a_worker_restarted_right_after_being_killed_takes_its_id_back(
    runtime: Authward,
) -> None:
    """kill -9, then an immediate restart (systemd, Kubernetes): the record still looks live,
    but it never beats again, so the new start takes it once it is old enough to be dead
    instead of refusing as it would for a live worker."""
    now = datetime.now(UTC)
    records = WorkerRecords(runtime.engine)
    assert await records.register("w1", "killed", now, now) == "registered"
    await liveness(runtime, "w1").register()
    assert await records.beat("w1", "killed", datetime.now(UTC)) is False  # no longer its own


async def test_a_run_recovered_elsewhere_while_it_executes_is_finished_by_its_new_owner(
    runtime: Authward,
) -> None:
    """A worker slow enough to be taken for dead keeps executing a run that the sweep put back
    on the queue: its next task finds the run owned by the new execution, and it stops without
    recording an outcome (recording one failed the run)."""
    client = JobClient(id="c")
    executions: list[int] = []
    release = asyncio.Event()

    @client.job(id="slow", name="slow", version="1", trigger=event_trigger(name="slow"))
    async def slow(payload: Any, io: Io, ctx: RunContext) -> str:
        await io.run_task("first", lambda: "one")
        executions.append(ctx.attempt)
        await release.wait()
        second: str = await io.run_task("second", lambda: "two")
        return second

    await bind(runtime, client)
    [run_id] = (await client.send_event({"name": "slow", "payload": {}})).run_ids
    await wait_until(runtime, run_id, lambda _: len(executions) == 1)
    # What the sweep does with the runs of a worker it took for dead.
    await runtime.jobs.engine.resume(run_id)
    await wait_until(runtime, run_id, lambda _: len(executions) == 2)
    release.set()

    run = await wait_for(runtime, run_id, *FINAL)
    assert (run.status, run.output, run.error) == ("succeeded", "two", None)
    assert [(t.key, t.status, t.output) for t in run.tasks] == [
        ("first", "succeeded", "one"),
        ("second", "succeeded", "two"),
    ]
