"""Starting the independent peers the tests talk to (node-oidc-provider under oidc-provider/).

    problem = node_peer_problem()            # None, or why the peer cannot run here
    with running_node_peer("op.js", {...}) as issuer:
        ...

When node or npm is missing, tests skip with the reason, unless AUTHWARD_REQUIRE_SERVICES=1 (as in
CI), where they fail instead: see :func:`require_node_peer`.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

PEER_DIR = Path(__file__).resolve().parent / "oidc-provider"
REQUIRE_SERVICES = os.environ.get("AUTHWARD_REQUIRE_SERVICES") == "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def node_peer_problem() -> str | None:
    """Why the provider cannot run here, or None; installs its node_modules when missing."""
    if shutil.which("node") is None:
        return "node (Node.js) not found on PATH: these tests need it for their OpenID provider"
    if (PEER_DIR / "node_modules" / "oidc-provider").is_dir():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return f"npm not found on PATH and {PEER_DIR / 'node_modules'} is missing"
    done = subprocess.run(
        [npm, "ci", "--prefix", str(PEER_DIR), "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"npm ci --prefix {PEER_DIR} failed: {last}"
    return None


def require_node_peer() -> None:
    problem = node_peer_problem()
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(problem + " (AUTHWARD_REQUIRE_SERVICES=1)")
        pytest.skip(problem)


@contextmanager
def running_node_peer(script: str, env: Mapping[str, str]) -> Iterator[str]:
    """Run ``node <script>`` in the peer directory on a free port; yields its issuer URL."""
    port = free_port()
    full_env = {**os.environ, **env, "OIDC_TEST_PORT": str(port)}
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            ["node", script],
            cwd=PEER_DIR,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert process.stdout is not None
        try:
            yield _wait_ready(process, stderr)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()


def _wait_ready(process: subprocess.Popen[str], stderr: IO[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                line = process.stdout.readline()
                if line.startswith("oidc-provider ready "):
                    return line.split()[-1]
                if line:
                    continue
            if process.poll() is not None:
                break
    stderr.seek(0)
    pytest.fail(f"the OpenID provider did not start: {stderr.read()[-2000:]}")
