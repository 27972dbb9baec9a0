"""Real processes on SQLite and PostgreSQL: an `authward worker` killed with SIGKILL in the middle
of a run has the run recovered by exactly one of the surviving workers within
AUTHWARD_JOBS_RECOVERY_SECONDS, its completed tasks never executed again; a worker restarted
under the same id recovers its own run; `authward serve` runs the embedded worker."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
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
from tests.integration.jobs_support import effects, wait_for, wait_until

RECOVERY = 3.0  # AUTHWARD_JOBS_RECOVERY_SECONDS: a worker is dead after 1.5 s without a beat
TASKS = ["charge-card", "reserve", "receipt"]

JOBS_APP = (
    BUMP
    + """
import asyncio

from app import config  # noqa: F401 - the app's config, found by `--app`

from authward.jobs import JobClient, event_trigger

client = JobClient(id="kill-test")


@client.job(id="charge", name="Charge", version="1", trigger=event_trigger(name="charge"))
async def charge(payload, io, ctx):
    db = payload["db"]
    await io.run_task("charge-card", lambda: bump(db, "charge-card"))
    await io.run_task("reserve", lambda: bump(db, "reserve"))  # returns the worker's pid
    if ctx.attempt == 1 and payload.get("hang"):
        # Task 2 is recorded by the engine once run_task returned: only now is a kill after it.
        await bump(db, "parked")
        await asyncio.sleep(3600)  # killed here, after task 2 of 3
    await io.run_task("receipt", lambda: bump(db, "receipt"))
    return os.getpid()
"""
)


@pytest.fixture
def processes() -> Iterator[list[Proc]]:
    yield from running_processes()


@pytest.fixture
async def sender(
    database_url: str, settings_for: SettingsFactory, tmp_path: Path
) -> AsyncIterator[tuple[Authward, Path]]:
    """This process only sends events (its worker never starts); the workers are children."""
    app = write_app(tmp_path, "jobs_app.py", JOBS_APP)
    config, module = load_app(app)
    aw = await Authward.open(config, settings_for(database_url), migrate=True)
    try:
        await zero_effects(aw, *TASKS, "parked")
        aw.jobs.bind(find_job_clients(module))
        yield aw, app
    finally:
        await aw.close()


async def hang_after_task_two(aw: Authward, database_url: str) -> tuple[str, int]:
    """Send a run that stops after its second task; returns it and the pid executing it."""
    payload = {"db": database_url, "hang": True}
    sent = await aw.jobs.send_event({"name": "charge", "payload": payload}, account_id="user_1")
    run_id = sent.run_ids[0]
    for _ in range(3000):  # the cap only turns a hang into a failure
        if (await effects(aw))["parked"]:
            break
        await asyncio.sleep(0.02)
    run = await wait_until(aw, run_id, lambda r: [t.status for t in r.tasks] == ["succeeded"] * 2)
    return run_id, int(run.tasks[1].output)


async def test_a_killed_worker_s_run_is_recovered_once_and_no_task_runs_twice(
    sender: tuple[Authward, Path], database_url: str, processes: list[Proc]
) -> None:
    aw, app = sender
    env = {"AUTHWARD_JOBS_RECOVERY_SECONDS": str(RECOVERY), "AUTHWARD_JOBS_POLL_SECONDS": "0.1"}
    workers = [spawn(processes, app, database_url, f"w{n}", **env) for n in range(3)]
    run_id, pid = await hang_after_task_two(aw, database_url)
    victim = next(w for w in workers if w.pid == pid)
    survivors = [w for w in workers if w is not victim]

    victim.proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    victim.proc.wait(timeout=30)
    run = await wait_for(aw, run_id)
    took = time.monotonic() - killed_at

    assert run.status == "succeeded", run.error
    assert run.output in {w.pid for w in survivors}
    assert (run.attempts, run.account_id) == (2, "user_1")
    # Tasks 1 and 2 never ran again.
    assert await effects(aw) == {**dict.fromkeys(TASKS, 1), "parked": 1}
    assert [(t.key, t.attempts) for t in run.tasks] == [(key, 1) for key in TASKS]
    # Exactly one survivor claimed the dead worker and put its run back on the queue.
    claims = [w for w in survivors if f"worker {victim.worker_id} stopped answering" in w.logs()]
    assert len(claims) == 1, [w.logs() for w in survivors]
    # Recovered on the setting's time (3 s), not DBOS's never or the 60 s default. The bound is
    # generous for a loaded machine; it is not a speed measurement.
    assert took < 4 * RECOVERY, took


async def test_a_worker_restarted_with_its_id_recovers_its_own_run(
    sender: tuple[Authward, Path], database_url: str, processes: list[Proc]
) -> None:
    aw, app = sender
    # Dead after 6 s without a beat: the restart (a few seconds) comes while the killed start's
    # record still looks live, which must not make it refuse as it would for a live worker.
    env = {"AUTHWARD_JOBS_RECOVERY_SECONDS": "12"}
    first = spawn(processes, app, database_url, "w1", **env)
    run_id, pid = await hang_after_task_two(aw, database_url)
    assert pid == first.pid
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=30)

    # At once, as systemd or Kubernetes would: no other worker is there to recover the run.
    again = spawn(processes, app, database_url, "w1", **env)
    run = await wait_for(aw, run_id)

    assert run.status == "succeeded", run.error
    assert (run.output, run.attempts) == (again.pid, 2)
    assert await effects(aw) == {**dict.fromkeys(TASKS, 1), "parked": 1}
    assert "stopped answering" not in again.logs()  # its own recovery, not a survivor's


async def test_serve_runs_the_embedded_worker(
    settings_for: SettingsFactory, tmp_path: Path, processes: list[Proc]
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    app = write_app(tmp_path, "jobs_app.py", JOBS_APP)
    config, module = load_app(app)
    aw = await Authward.open(config, settings_for(database_url), migrate=True)
    try:
        await zero_effects(aw, *TASKS, "parked")
        server = spawn(
            processes, app, database_url, "server", command="serve", marker="worker started"
        )
        aw.jobs.bind(find_job_clients(module))
        sent = await aw.jobs.send_event({"name": "charge", "payload": {"db": database_url}})
        run = await wait_for(aw, sent.run_ids[0])

        assert run.status == "succeeded", run.error
        assert run.output == server.pid != os.getpid()
        assert await effects(aw) == {**dict.fromkeys(TASKS, 1), "parked": 0}
    finally:
        await aw.close()
