"""Real processes: `authward worker` killed with SIGKILL in the middle of a run, and the run
finished by another worker with no completed task executed twice; a run that kills every worker
executing it is failed after AUTHWARD_JOBS_MAX_CLAIMS claims; `authward serve` runs the
embedded worker."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from authward.config import load_app
from authward.jobs import find_job_clients
from authward.runtime import Authward
from tests.conftest import EXAMPLE_APP, SettingsFactory
from tests.integration.jobs_support import create_counter, effects, wait_for, wait_until

JOBS_APP = """
import asyncio
import os
import signal

from app import config  # noqa: F401 - the app's config, found by `--app`
from sqlalchemy import text

from authward.jobs import JobClient, event_trigger
from authward.store.engine import create_engine

client = JobClient(id="kill-test")


async def bump(url: str, name: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE effects SET n = n + 1 WHERE name = :n"), {"n": name})
    finally:
        await engine.dispose()
    return name


@client.job(id="charge", name="Charge", version="1", trigger=event_trigger(name="charge"))
async def charge(payload, io, ctx):
    await io.run_task("charge-card", lambda: bump(payload["db"], "charge"))
    if os.environ.get("JOBS_TEST_HANG") == "1":
        await asyncio.sleep(3600)  # killed here, after the card was charged
    await io.run_task("receipt", lambda: bump(payload["db"], "receipt"))
    return os.getpid()


@client.job(id="poison", name="Poison", version="1", trigger=event_trigger(name="poison"))
async def poison(payload, io, ctx):
    await io.run_task("charge-card", lambda: bump(payload["db"], "charge"))
    if os.getpid() != payload["spare"]:
        os.kill(os.getpid(), signal.SIGKILL)  # what a crash in native code or the OOM killer does
    return os.getpid()
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE_APP, tmp_path / "app.py")
    (tmp_path / "jobs_app.py").write_text(JOBS_APP)
    return tmp_path


def spawn(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "authward", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def child_env(database_url: str, key_file: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    return {
        **clean,
        "AUTHWARD_DATABASE_URL": database_url,
        "AUTHWARD_KEY_FILE": str(key_file),
        "AUTHWARD_JOBS_POLL_SECONDS": "0.1",
        "AUTHWARD_PORT": "0",
        **extra,
    }


def read_until(proc: subprocess.Popen[str], marker: str) -> str:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return line
    _, stderr = proc.communicate(timeout=10)
    raise AssertionError(f"no {marker!r} in output: {''.join(seen)}{stderr}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


async def test_a_worker_killed_mid_run_is_taken_over_and_no_task_runs_twice(
    database_url: str,
    settings_for: SettingsFactory,
    app_dir: Path,
    tmp_path: Path,
    processes: list[subprocess.Popen[str]],
) -> None:
    config, module = load_app(app_dir / "jobs_app.py")
    settings = settings_for(database_url, jobs_poll_seconds=0.1, jobs_lease_seconds=2)
    aw = await Authward.open(config, settings, migrate=True)
    try:
        await create_counter(aw)
        async with aw.engine.begin() as conn:
            await conn.execute(text("INSERT INTO effects VALUES ('charge', 0), ('receipt', 0)"))
        env = child_env(database_url, tmp_path / "authward.key", JOBS_TEST_HANG="1")
        worker = spawn(["worker", "--app", "jobs_app.py", "--lease-seconds", "2"], app_dir, env)
        processes.append(worker)
        read_until(worker, "authward: worker")

        aw.jobs.bind(find_job_clients(module))  # bound, not started: this process only sends
        sent = await aw.jobs.send_event(
            {"name": "charge", "payload": {"db": database_url}}, account_id="user_123"
        )
        run_id = sent.run_ids[0]
        await wait_until(aw, run_id, lambda r: [t.status for t in r.tasks] == ["succeeded"])
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        assert (await aw.jobs.get_run(run_id)).status == "running"  # type: ignore[union-attr]

        await aw.jobs.start()  # another worker; it takes over once the dead one's lease runs out
        run = await wait_for(aw, run_id)

        assert run.status == "succeeded", run.error
        assert run.output == os.getpid()  # finished here
        assert run.attempts == 2
        assert run.account_id == "user_123"
        assert await effects(aw) == {"charge": 1, "receipt": 1}
        assert [(t.key, t.attempts) for t in run.tasks] == [("charge-card", 1), ("receipt", 1)]
    finally:
        await aw.close()


async def test_serve_runs_the_embedded_worker(
    settings_for: SettingsFactory,
    app_dir: Path,
    tmp_path: Path,
    processes: list[subprocess.Popen[str]],
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    config, module = load_app(app_dir / "jobs_app.py")
    aw = await Authward.open(config, settings_for(database_url), migrate=True)
    try:
        await create_counter(aw)
        async with aw.engine.begin() as conn:
            await conn.execute(text("INSERT INTO effects VALUES ('charge', 0), ('receipt', 0)"))
        server = spawn(
            ["serve", "--app", "jobs_app.py"],
            app_dir,
            child_env(database_url, tmp_path / "authward.key"),
        )
        processes.append(server)
        read_until(server, "worker started")

        aw.jobs.bind(find_job_clients(module))
        sent = await aw.jobs.send_event({"name": "charge", "payload": {"db": database_url}})
        run = await wait_for(aw, sent.run_ids[0])

        assert run.status == "succeeded", run.error
        assert run.output == server.pid
        assert await effects(aw) == {"charge": 1, "receipt": 1}
    finally:
        await aw.close()


async def test_a_run_that_kills_every_worker_fails_after_max_claims(
    database_url: str,
    settings_for: SettingsFactory,
    app_dir: Path,
    tmp_path: Path,
    processes: list[subprocess.Popen[str]],
) -> None:
    config, module = load_app(app_dir / "jobs_app.py")
    settings = settings_for(
        database_url, jobs_poll_seconds=0.1, jobs_lease_seconds=1, jobs_max_claims=2
    )
    aw = await Authward.open(config, settings, migrate=True)
    try:
        await create_counter(aw)
        async with aw.engine.begin() as conn:
            await conn.execute(text("INSERT INTO effects VALUES ('charge', 0)"))
        aw.jobs.bind(find_job_clients(module))
        # The run spares only this process: executed here, it would succeed.
        payload = {"db": database_url, "spare": os.getpid()}
        sent = await aw.jobs.send_event({"name": "poison", "payload": payload})
        env = child_env(database_url, tmp_path / "authward.key", AUTHWARD_JOBS_MAX_CLAIMS="2")
        command = ["worker", "--app", "jobs_app.py", "--lease-seconds", "1"]
        pair = [spawn(command, app_dir, env) for _ in range(2)]
        processes.extend(pair)
        # Each claims the run in turn (the second once the first one's lease ran out) and dies.
        codes = [await asyncio.to_thread(proc.wait, 120) for proc in pair]
        assert codes == [-signal.SIGKILL, -signal.SIGKILL]

        await aw.jobs.start()  # a healthy worker: it must not get the run a third time
        run = await wait_for(aw, sent.run_ids[0])

        assert run.status == "failed"
        assert run.error is not None
        assert "given up after 2 claims in a row whose worker went away" in run.error
        assert "AUTHWARD_JOBS_MAX_CLAIMS=2" in run.error
        assert run.attempts == 2
        assert run.output is None
        assert await effects(aw) == {"charge": 1}  # its completed task was not run again
    finally:
        await aw.close()
