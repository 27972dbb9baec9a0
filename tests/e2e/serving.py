"""Starting `authward serve` (or any server) in a subprocess for a test, and waiting until it
answers at ``/healthz``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.peers import free_port

AUTHWARD = [sys.executable, "-m", "authward"]


def wait_until_answering(
    proc: subprocess.Popen[str],
    url: str,
    output: Callable[[], str],
    attempts: int = 600,
    path: str = "/healthz",
) -> None:
    """Return once ``url`` answers at ``path`` (or after ``attempts`` tries: the test's own
    requests then fail); fails with ``output()`` if the process exits first."""
    for _ in range(attempts):
        if proc.poll() is not None:
            raise AssertionError(f"the server for {url} exited:\n{output()}")
        try:
            httpx.get(url + path, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)


def start(
    workdir: Path, env: dict[str, str], app: str = "app.py", *, port: int | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start `authward serve` on ``port`` (its --port), or else on AUTHWARD_PORT; checks the URL
    it prints, waits until it answers and returns the process and its URL."""
    command = [*AUTHWARD, "serve", "--app", app]
    if port is None:
        port = int(env["AUTHWARD_PORT"])
    else:
        command += ["--port", str(port)]
    proc = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = f"http://127.0.0.1:{port}"
    if not line.strip().endswith(f" at {url}"):
        proc.kill()
        raise AssertionError(line + proc.communicate(timeout=30)[1])
    wait_until_answering(proc, url, lambda: proc.communicate(timeout=30)[1])
    return proc, url


@contextmanager
def servers(workdir: Path, env: dict[str, str], count: int) -> Iterator[list[str]]:
    """``count`` `authward serve` processes of one app and store, each on a free port of its
    own; yields their URLs, then stops them all and fails if any of them wrote a traceback."""
    procs: list[subprocess.Popen[str]] = []
    try:
        urls = []
        for _ in range(count):
            proc, url = start(workdir, {**env, "AUTHWARD_PORT": str(free_port())})
            procs.append(proc)
            urls.append(url)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            _, stderr = proc.communicate(timeout=30)
            assert "Traceback" not in stderr, stderr
