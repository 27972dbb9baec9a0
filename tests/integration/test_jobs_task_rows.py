"""A completed task's row is written after its outcome is safe with the engine, in one batch
with the run's next write: what a user sees of a run must survive an execution that ends
between the two (docs/decisions/055)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from authward.jobs import Io, JobClient, RunContext, event_trigger
from authward.jobs import io as io_module
from authward.runtime import Authward
from tests.integration.jobs_support import (
    FakeClock,
    bind,
    count_effect,
    create_counter,
    effects,
    wait_for,
    wait_until,
)


@pytest.fixture
def rows_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """Completed tasks' rows wait for the run's next write or its outcome: the state an
    execution leaves when it dies right after a task."""
    monkeypatch.setattr(io_module, "RUNNING_MARK_SECONDS", 3600.0)


def parked_job(aw: Authward, client: JobClient, executions: list[int]) -> None:
    """A job whose first execution stops for good right after its first task."""

    @client.job(id="parked", name="parked", version="1", trigger=event_trigger(name="parked"))
    async def job(payload: Any, io: Io, ctx: RunContext) -> str:
        await io.run_task("charge", lambda: count_effect(aw, "charge"))
        executions.append(ctx.attempt)
        if ctx.attempt == 1:
            await asyncio.Event().wait()  # this execution never goes on
        done: str = await io.run_task("receipt", lambda: "sent")
        return done


@pytest.fixture
async def counted(runtime: Authward) -> Authward:
    await create_counter(runtime)
    return runtime


async def test_a_row_its_execution_never_wrote_is_written_from_the_engine_s_record(
    counted: Authward, rows_held: None
) -> None:
    aw, clock, client, executions = counted, FakeClock(), JobClient(id="c"), []
    parked_job(aw, client, executions)
    await bind(aw, client, clock=clock)
    [run_id] = (await client.send_event({"name": "parked", "payload": {}})).run_ids
    await wait_until(aw, run_id, lambda _: executions == [1])
    charged_at = clock()
    # The engine holds the charge's outcome; the run's rows do not show it yet.
    parked = await aw.jobs.get_run(run_id)
    assert parked is not None
    assert parked.tasks == []

    clock.advance(60)
    await aw.jobs.engine.resume(run_id)  # what the sweep does with a dead worker's runs
    run = await wait_for(aw, run_id)

    assert (run.status, run.output, run.attempts) == ("succeeded", "sent", 2)
    assert await effects(aw) == {"charge": 1}  # replayed, not run again
    charge, receipt = run.tasks
    assert (charge.key, charge.status, charge.attempts) == ("charge", "succeeded", 1)
    # As the first execution would have written it, not as of the replay.
    assert charge.started_at == charge.finished_at == charged_at
    assert (receipt.key, receipt.finished_at) == ("receipt", charged_at + timedelta(seconds=60))
    assert charge.seq < receipt.seq


async def test_a_cancel_keeps_the_tasks_that_ended_before_it(
    counted: Authward, rows_held: None
) -> None:
    aw, client, executions = counted, JobClient(id="c"), []
    parked_job(aw, client, executions)
    await bind(aw, client)
    [run_id] = (await client.send_event({"name": "parked", "payload": {}})).run_ids
    await wait_until(aw, run_id, lambda _: executions == [1])

    assert await aw.jobs.cancel_run(run_id)
    run = await wait_until(aw, run_id, lambda r: r.status == "cancelled" and bool(r.tasks))
    assert [(t.key, t.status, t.output) for t in run.tasks] == [("charge", "succeeded", None)]

    # A row from an execution that went on after the cancel is refused.
    assert run.finished_at is not None
    late = replace(
        run.tasks[0], key="late", seq=9, finished_at=run.finished_at + timedelta(seconds=1)
    )
    await aw.jobs.store.save_tasks(run_id, [late])
    assert [t.key for t in (await wait_for(aw, run_id)).tasks] == ["charge"]
