"""Real `authward worker` / `authward serve` processes for the multi-process job tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from authward.runtime import Authward
from tests.conftest import EXAMPLE_APP


class Proc:
    """A child process; its stderr (logs) goes to a file, so a pipe nobody reads never fills."""

    def __init__(self, proc: subprocess.Popen[str], log: Path, worker_id: str) -> None:
        self.proc = proc
        self.log = log
        self.worker_id = worker_id

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_started(self, marker: str = "authward: worker") -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if marker in line:
                return
        self.proc.wait(timeout=30)
        raise AssertionError(f"{self.worker_id} did not start: {self.log.read_text()}")

    def logs(self) -> str:
        return self.log.read_text()


def write_app(directory: Path, name: str, source: str) -> Path:
    (directory / "app.py").write_bytes(EXAMPLE_APP.read_bytes())
    (directory / name).write_text(source)
    return directory / name


def spawn(
    started: list[Proc],
    app: Path,
    database_url: str,
    worker_id: str,
    *,
    command: str = "worker",
    marker: str | None = "authward: worker",
    **env: str,
) -> Proc:
    """Start `authward <command>` on ``app`` as worker ``worker_id`` and wait for ``marker``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    child_env = {
        **clean,
        "AUTHWARD_DATABASE_URL": database_url,
        "AUTHWARD_KEY_FILE": str(app.parent / "authward.key"),
        "AUTHWARD_JOBS_WORKER_ID": worker_id,
        "AUTHWARD_PORT": "0",
        **env,
    }
    log = app.parent / f"{worker_id}-{len(started)}.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "authward", command, "--app", app.name],
            cwd=app.parent,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    child = Proc(proc, log, worker_id)
    started.append(child)
    if marker is not None:
        child.wait_started(marker)
    return child


def running_processes() -> Iterator[list[Proc]]:
    """A test's child processes, killed if still running at its end (a fixture yields from it)."""
    started: list[Proc] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.proc.kill()
        child.proc.communicate(timeout=30)


async def zero_effects(aw: Authward, *names: str) -> None:
    """The effects table (tests/integration/jobs_support.py) with these counters at 0."""
    async with aw.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (name VARCHAR(80) PRIMARY KEY, n INTEGER)"))
        for name in names:
            await conn.execute(text("INSERT INTO effects VALUES (:n, 0)"), {"n": name})


#: Job code shared by the apps: bump(url, name) counts one effect in the effects table.
BUMP = """
import os

from sqlalchemy import text

from authward.store.engine import create_engine


async def bump(url, name):
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE effects SET n = n + 1 WHERE name = :n"), {"n": name})
    finally:
        await engine.dispose()
    return os.getpid()
"""
