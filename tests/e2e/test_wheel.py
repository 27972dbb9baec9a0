"""The wheel: it builds, installs with its core dependencies only into a fresh virtualenv (no
provider SDK, no asyncpg, no OpenTelemetry SDK), and runs `authward --help` and `authward serve`
on SQLite; a feature whose extra is missing fails at start with one line naming it.

Slow (a build and an install): one test, marked ``packaging``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLE_APP, ROOT
from tests.e2e.serving import wait_until_answering
from tests.peers import free_port

SLACK_APP = """
from authward import define_auth, define_config
from authward.integrations import Slack

slack = Slack(id="our-slack", token="xoxb-not-used")
config = define_config(auth=define_auth(name="needs-slack"))
"""


@pytest.mark.packaging
def test_wheel_installs_alone_and_serves(tmp_path: Path, env: dict[str, str]) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, ROOT],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = dist.glob("authward-*.whl")
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    bin_ = target / "bin"
    subprocess.run(
        [bin_ / "python", "-m", "pip", "install", "--quiet", wheel],
        check=True,
        capture_output=True,
        text=True,
    )
    installed = subprocess.run(
        [bin_ / "python", "-m", "pip", "list", "--format=freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.lower()
    for extra_only in ("slack-sdk", "githubkit", "asyncpg", "opentelemetry-sdk", "mcp=="):
        assert extra_only not in installed, extra_only

    helped = subprocess.run(
        [bin_ / "authward", "--help"], capture_output=True, text=True, env=env, check=False
    )
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(EXAMPLE_APP, work / "app.py")
    port = free_port()
    proc = subprocess.Popen(
        [bin_ / "authward", "serve", "--app", "app.py", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(proc, url, lambda: proc.communicate(timeout=30)[1])
        assert httpx.get(f"{url}/readyz").status_code == 200
        assert httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr

    # Each missing extra: one line naming the pip install that brings it.
    (work / "slack_app.py").write_text(SLACK_APP)
    cases = [
        (["--app", "slack_app.py"], {}, "pip install 'authward[slack]'"),
        (
            ["--app", "app.py"],
            {"AUTHWARD_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres"},
            "pip install 'authward[postgres]'",
        ),
        (
            ["--app", "app.py"],
            {"AUTHWARD_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
            "pip install 'authward[otel]'",
        ),
    ]
    for args, extra_env, line in cases:
        refused = subprocess.run(
            [bin_ / "authward", "serve", *args, "--port", "0"],
            cwd=work,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert refused.returncode == 1, refused.stderr
        assert line in refused.stderr
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "Traceback" not in refused.stderr
