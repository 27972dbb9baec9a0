"""How many times a run executes, with real worker processes on SQLite and PostgreSQL: a run that
kills every worker executing it (SIGKILL from inside the run) is failed after
AUTHWARD_JOBS_MAX_CLAIMS executions instead of being executed again; a worker stopped cleanly
hands its runs back to the queue at once, where another worker finishes them."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from authward.config import load_app
from authward.jobs import find_job_clients
from authward.runtime import Authward
from tests.conftest import SettingsFactory
from tests.integration.jobs_processes import (
    BUMP,
    Proc,
    running_processes,
    spawn,
    write_app,
    zero_effects,
)
from tests.integration.jobs_support import effects, wait_for

JOBS_APP = (
    BUMP
    + """
import asyncio
import signal

from app import config  # noqa: F401 - the app's config, found by `--app`

from authward.jobs import JobClient, event_trigger

client = JobClient(id="claims-test")


@client.job(id="poison", name="Poison", version="1", trigger=event_trigger(name="poison"))
async def poison(payload, io, ctx):
    await bump(payload["db"], "executions")  # not a task: counts every execution
    await io.run_task("charge-card", lambda: bump(payload["db"], "charge-card"))
    if os.getpid() != payload["spare"]:
        os.kill(os.getpid(), signal.SIGKILL)  # what a crash in native code or the OOM killer does
    return os.getpid()


@client.job(id="long", name="Long", version="1", trigger=event_trigger(name="long"))
async def long(payload, io, ctx):
    await io.run_task("first", lambda: bump(payload["db"], "first"))
    if ctx.attempt == 1:
        await bump(payload["db"], "parked")  # "first" is recorded by the engine now
        await asyncio.Event().wait()  # interrupted by the worker's clean stop
    return os.getpid()
"""
)
FAST = {"AUTHWARD_JOBS_RECOVERY_SECONDS": "2", "AUTHWARD_JOBS_POLL_SECONDS": "0.1"}


@pytest.fixture
def processes() -> Iterator[list[Proc]]:
    yield from running_processes()


async def open_app(
    tmp_path: Path, database_url: str, settings_for: SettingsFactory
) -> tuple[Authward, Path]:
    app = write_app(tmp_path, "claims_app.py", JOBS_APP)
    config, module = load_app(app)
    # When this process starts its worker, it is one more worker, with the children's settings.
    settings = settings_for(
        database_url,
        jobs_worker_id="this-process",
        jobs_recovery_seconds=2,
        jobs_poll_seconds=0.1,
        jobs_max_claims=2,
    )
    aw = await Authward.open(config, settings, migrate=True)
    await zero_effects(aw, "executions", "charge-card", "first", "parked")
    aw.jobs.bind(find_job_clients(module))
    return aw, app


async def test_a_run_that_kills_every_worker_fails_after_max_claims_executions(
    database_url: str, settings_for: SettingsFactory, tmp_path: Path, processes: list[Proc]
) -> None:
    aw, app = await open_app(tmp_path, database_url, settings_for)
    try:
        # The run spares only this process: executed here, it would succeed.
        payload = {"db": database_url, "spare": os.getpid()}
        [run_id] = (await aw.jobs.send_event({"name": "poison", "payload": payload})).run_ids
        env = {**FAST, "AUTHWARD_JOBS_MAX_CLAIMS": "2"}
        pair = [spawn(processes, app, database_url, f"w{n}", **env) for n in range(2)]
        # One executes the run and dies; the other recovers it, executes it and dies too.
        codes = [await asyncio.to_thread(w.proc.wait, 120) for w in pair]
        assert codes == [-signal.SIGKILL, -signal.SIGKILL]

        await aw.jobs.start()  # a healthy worker recovers it, but must not execute it a third time
        run = await wait_for(aw, run_id)

        assert run.status == "failed"
        assert run.error is not None
        assert "given up after 2 executions whose worker went away" in run.error
        assert "AUTHWARD_JOBS_MAX_CLAIMS=2" in run.error
        assert run.output is None
        # Two executions, and the completed task of the first was not run by the second.
        assert await effects(aw) == {"executions": 2, "charge-card": 1, "first": 0, "parked": 0}
    finally:
        await aw.close()


async def test_a_worker_stopped_cleanly_hands_its_runs_back_to_the_queue(
    database_url: str, settings_for: SettingsFactory, tmp_path: Path, processes: list[Proc]
) -> None:
    aw, app = await open_app(tmp_path, database_url, settings_for)
    try:
        worker = spawn(processes, app, database_url, "w1", **FAST)
        [run_id] = (
            await aw.jobs.send_event({"name": "long", "payload": {"db": database_url}})
        ).run_ids
        for _ in range(3000):  # the cap only turns a hang into a failure
            if (await effects(aw))["parked"]:
                break
            await asyncio.sleep(0.02)
        worker.proc.send_signal(signal.SIGTERM)  # a deploy
        assert await asyncio.to_thread(worker.proc.wait, 60) == 0

        handed_back = await aw.jobs.get_run(run_id)
        assert handed_back is not None
        assert handed_back.status == "queued"  # at once, without waiting for the recovery time
        await aw.jobs.start()  # another worker
        run = await wait_for(aw, run_id)

        assert run.status == "succeeded", run.error
        assert (run.output, run.attempts) == (os.getpid(), 2)
        assert await effects(aw) == {"executions": 0, "charge-card": 0, "first": 1, "parked": 1}
    finally:
        await aw.close()
