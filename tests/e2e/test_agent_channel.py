"""examples/agent_channel.py served by `authward serve`: the principal shapes the agent's
instructions and authorizes its tools, over real HTTP."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.test_serve_and_cli import cli, env, serve

__all__ = ["env"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in ("app.py", "agent_channel.py"):
        shutil.copy(ROOT / "examples" / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def agent_url(workdir: Path, env: dict[str, str]) -> Iterator[str]:
    yield from serve(workdir, env, "agent_channel.py")


def ask(url: str, message: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{url}/agent", json={"message": message}, headers=headers)


def test_admin_may_delete_and_reader_may_not(
    agent_url: str, workdir: Path, env: dict[str, str]
) -> None:
    app = ["--app", "agent_channel.py"]
    admin = cli(["machineuser", "token", "admin-machine-user", *app], workdir, env).stdout.strip()
    reader = cli(["machineuser", "token", "readonly-machine-user", *app], workdir, env).stdout
    done = ask(agent_url, "delete report q3", admin)
    assert done.status_code == 200
    body = done.json()
    assert body["tool"] == "delete_report"
    assert body["result"] == "deleted q3"
    assert "may delete reports" in body["instructions"]
    assert "ADMIN" in body["instructions"]

    refused = ask(agent_url, "delete report q3", reader.strip())
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    read = ask(agent_url, "read report q1", reader.strip())
    assert read.json()["result"] == "revenue up"
    assert "may delete" not in read.json()["instructions"]


def test_api_key_and_anonymous_callers(agent_url: str, workdir: Path, env: dict[str, str]) -> None:
    created = cli(
        [
            "apikey",
            "create",
            "ci-bot",
            "--user",
            "user_123",
            "--scope",
            "reports:read",
            "--json",
            "--app",
            "agent_channel.py",
        ],
        workdir,
        env,
    )
    key = json.loads(created.stdout)["key"]
    listed = ask(agent_url, "list reports", key)
    assert listed.status_code == 200
    assert listed.json()["result"] == ["q1", "q2", "q3"]
    assert ask(agent_url, "delete report q1", key).status_code == 403
    anonymous = ask(agent_url, "list reports")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="authward"'
