"""``authward jobs list|test`` and ``authward runs list|show|cancel`` as a user runs them, on the
embedded SQLite store (and a job tested from the CLI on PostgreSQL too), with a real
``authward worker`` executing the runs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_APP
from tests.e2e.test_serve_and_cli import AUTHWARD, cli

JOBS_APP = """
from typing import Any

from app import config  # noqa: F401  (the sibling app.py: the config the CLI opens)
from pydantic import BaseModel

from authward.jobs import JobClient, event_trigger

client = JobClient(id="cli-app")


class Greeting(BaseModel):
    name: str


@client.job(id="greet", name="Greet", version="2.0.0",
            trigger=event_trigger(name="greet", schema=Greeting))
async def greet(payload: Greeting, io: Any, ctx: Any) -> dict[str, Any]:
    await io.logger.info("greeting [bold]someone[/bold]", {"name": payload.name})
    text = await io.run_task("compose", lambda: f"hello {payload.name}")
    await io.run_task("deliver", lambda: {"sent": [text]})
    return {"text": text, "account": ctx.account and ctx.account.id}


@client.job(id="pause", name="Pause", version="1.0.0", trigger=event_trigger(name="pause"))
async def pause(payload: Any, io: Any, ctx: Any) -> None:
    await io.wait("nap", seconds=3600)
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE_APP, tmp_path / "app.py")
    (tmp_path / "jobs_app.py").write_text(JOBS_APP)
    return tmp_path


@pytest.fixture
def env(workdir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    # A worker notices runs queued by another process (this CLI) when it polls.
    return {**clean, "AUTHWARD_APP": "jobs_app.py", "AUTHWARD_JOBS_POLL_SECONDS": "0.1"}


@pytest.fixture
def worker(workdir: Path, env: dict[str, str]) -> Iterator[None]:
    with run_worker(workdir, env):
        yield


@contextlib.contextmanager
def run_worker(workdir: Path, env: dict[str, str]) -> Iterator[None]:
    cli(["migrate"], workdir, env)
    proc = subprocess.Popen(
        [*AUTHWARD, "worker", "--worker-id", "cli-worker-1"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        started = "authward: worker cli-worker-1 running"  # --worker-id names it
        assert started in line, line + proc.stderr.read()  # type: ignore[union-attr]
        yield
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def as_json(args: list[str], workdir: Path, env: dict[str, str]) -> object:
    return json.loads(cli([*args, "--json"], workdir, env).stdout)


def test_list_test_show_and_cancel_runs(workdir: Path, env: dict[str, str]) -> None:
    jobs = as_json(["jobs", "list"], workdir, env)
    assert jobs == [
        {
            "id": "greet",
            "name": "Greet",
            "version": "2.0.0",
            "client_id": "cli-app",
            "trigger": "event greet",
            "event_name": "greet",
        },
        {
            "id": "pause",
            "name": "Pause",
            "version": "1.0.0",
            "client_id": "cli-app",
            "trigger": "event pause",
            "event_name": "pause",
        },
    ]

    started = cli(
        ["jobs", "test", "greet", "--payload", '{"name": "Ada"}', "--account-id", "user_123"],
        workdir,
        env,
    )
    [run_id] = started.stdout.splitlines()
    assert run_id.startswith("run_")
    assert "queued" in started.stderr
    assert "authward worker" in started.stderr
    other = as_json(["jobs", "test", "pause", "--account-id", "user_456"], workdir, env)
    assert isinstance(other, dict)
    assert (other["job_id"], other["status"], other["account_id"], other["event_name"]) == (
        "pause",
        "queued",
        "user_456",
        "test",
    )

    mine = as_json(["runs", "list", "--account", "user_123"], workdir, env)
    assert isinstance(mine, list)
    assert [(r["id"], r["job_id"], r["status"], r["account_id"]) for r in mine] == [
        (run_id, "greet", "queued", "user_123")
    ]
    assert set(mine[0]) == set(other)  # one shape for every listing
    by_job = as_json(["runs", "list", "--job", "pause", "--status", "queued"], workdir, env)
    assert [r["id"] for r in by_job] == [other["id"]]  # type: ignore[union-attr]
    newest = as_json(["runs", "list", "--limit", "1"], workdir, env)
    assert [r["id"] for r in newest] == [other["id"]]  # type: ignore[union-attr]

    shown = as_json(["runs", "show", run_id], workdir, env)
    assert isinstance(shown, dict)
    assert (shown["status"], shown["payload"], shown["tasks"], shown["logs"]) == (
        "queued",
        {"name": "Ada"},
        [],
        [],
    )

    cancelled = cli(["runs", "cancel", other["id"]], workdir, env)
    assert cancelled.stdout.strip() == f"cancelled run {other['id']}"
    again = cli(["runs", "cancel", other["id"]], workdir, env, check=False)
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: run {other['id']} has already ended (cancelled)"

    table = cli(["runs", "list"], workdir, {**env, "COLUMNS": "250"}).stdout
    assert run_id in table
    assert "user_123" in table
    assert other["id"] in table
    assert "cancelled" in table


def test_a_worker_runs_what_the_cli_started(
    workdir: Path, env: dict[str, str], worker: None
) -> None:
    check_a_tested_run(workdir, env)


def test_a_worker_runs_what_the_cli_started_on_postgresql(
    workdir: Path, env: dict[str, str], postgres_url: str
) -> None:
    env = {**env, "AUTHWARD_DATABASE_URL": postgres_url}
    with run_worker(workdir, env):
        check_a_tested_run(workdir, env)


def check_a_tested_run(workdir: Path, env: dict[str, str]) -> None:
    done = as_json(
        [
            "jobs",
            "test",
            "greet",
            "--payload",
            '{"name": "Ada"}',
            "--account-id",
            "user_123",
            "--wait",
        ],
        workdir,
        env,
    )
    assert isinstance(done, dict)
    assert done["status"] == "succeeded", done["error"]
    assert done["output"] == {"text": "hello Ada", "account": "user_123"}
    assert [(t["key"], t["status"], t["output"]) for t in done["tasks"]] == [
        ("compose", "succeeded", "hello Ada"),
        ("deliver", "succeeded", {"sent": ["hello Ada"]}),
    ]
    assert [(e["level"], e["data"]) for e in done["logs"]] == [("info", {"name": "Ada"})]

    shown = cli(["runs", "show", done["id"]], workdir, {**env, "COLUMNS": "200"}).stdout
    assert f"run {done['id']}" in shown
    assert "account:     user_123" in shown
    assert "status:      succeeded" in shown
    assert 'payload: {"name": "Ada"}' in shown
    assert "compose" in shown
    assert "deliver" in shown
    assert '{"sent": ["hello Ada"]}' in shown  # printed as is, not read as markup
    assert 'info  greeting [bold]someone[/bold] {"name": "Ada"}' in shown


def test_a_refused_test_starts_nothing(workdir: Path, env: dict[str, str]) -> None:
    mistakes = [
        (["--payload", "{nope"], "error: --payload is not valid JSON:"),
        (
            ["--payload", '{"nom": 1}'],
            "error: --payload: payload does not match the schema of job 'greet': name: Field "
            "required",
        ),
        (["--account-id", ""], "error: --account-id must be 1 to 200 characters"),
    ]
    for args, message in mistakes:
        result = cli(["jobs", "test", "greet", *args], workdir, env, check=False)
        assert result.returncode == 1
        assert result.stderr.startswith(message), result.stderr
        assert result.stderr.count("\n") == 1
        assert result.stdout == ""
    assert as_json(["runs", "list"], workdir, env) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs", "test", "nope"], "error: no job 'nope' (known: greet, pause)"),
        (["runs", "show", "run_nope"], "error: no run 'run_nope'"),
        (["runs", "cancel", "run_nope"], "error: no run 'run_nope'"),
        (["runs", "list", "--status", "done"], "error: --status: unknown status 'done'"),
    ],
)
def test_mistakes_are_one_line(
    workdir: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    result = cli(args, workdir, env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
