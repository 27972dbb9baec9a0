"""The CLI in a pipe, as scripts use it: tables print one plain line per row that never wraps
(`| grep`, `| awk`), and every list / get / show command has --json with the field names the
text shows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.test_jobs_cli import workdir
from tests.e2e.test_serve_and_cli import cli

__all__ = ["workdir"]  # test_jobs_cli's fixture: the example app with jobs_app.py beside it

#: Longer than a terminal line on its own: a wrapping table would split it.
LONG_ACCOUNT = "account-" + "x" * 120


@pytest.fixture
def env(workdir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    env = {**clean, "COLUMNS": "80"}
    cli(["migrate"], workdir, env)
    return env


def _rows(stdout: str) -> tuple[list[str], list[list[str]]]:
    """The header's fields and each row's cells (tab-separated lines)."""
    header, *lines = stdout.splitlines()
    return header.split("\t"), [line.split("\t") for line in lines]


def test_oauth2client_list_in_a_pipe_is_one_line_per_client(
    workdir: Path, env: dict[str, str]
) -> None:
    text = cli(["oauth2client", "list"], workdir, env).stdout
    listed = json.loads(cli(["oauth2client", "list", "--json"], workdir, env).stdout)
    header, rows = _rows(text)
    assert header == ["name", "client_id", "grant_types", "redirect_uris", "dpop"]
    # `authward oauth2client list | grep my-oauth2-client` finds the client with its id.
    [line] = [x for x in text.splitlines() if "my-oauth2-client" in x]
    assert line.split("\t") == [
        "my-oauth2-client",
        listed[0]["client_id"],
        "authorization_code, refresh_token",
        "https://example.com/callback http://127.0.0.1:3000/callback",
        "required",
    ]
    assert len(rows) == len(listed) == 1


def test_machineuser_list_keeps_each_machine_user_on_its_line(
    workdir: Path, env: dict[str, str]
) -> None:
    header, rows = _rows(cli(["machineuser", "list"], workdir, env).stdout)
    listed = json.loads(cli(["machineuser", "list", "--json"], workdir, env).stdout)
    assert header == ["name", "client_id", "attributes", "attribute_list"]
    assert [r[:2] for r in rows] == [[m["name"], m["client_id"]] for m in listed]
    assert [r[3].split() for r in rows] == [m["attribute_list"] for m in listed]


def test_runs_list_is_one_run_per_line_for_awk(workdir: Path, env: dict[str, str]) -> None:
    app = ["--app", "jobs_app.py"]
    started = [
        cli(
            ["jobs", "test", "greet", "--payload", json.dumps({"name": n}), *app, *account],
            workdir,
            env,
        ).stdout.strip()
        for n, account in (("Ada", ["--account-id", LONG_ACCOUNT]), ("Bob", []))
    ]
    text = cli(["runs", "list", *app], workdir, env).stdout
    header, rows = _rows(text)
    assert header[:4] == ["run", "job", "status", "account"]
    # awk -F'\t' '{print $1, $4}': one run per line, newest first.
    assert [(r[0], r[3]) for r in rows] == [(started[1], "-"), (started[0], LONG_ACCOUNT)]
    assert all(len(r) == len(header) for r in rows)
    as_json = json.loads(cli(["runs", "list", "--json", *app], workdir, env).stdout)
    assert [r["id"] for r in as_json] == started[::-1]
    shown = json.loads(cli(["runs", "show", started[0], "--json", *app], workdir, env).stdout)
    assert shown["account_id"] == LONG_ACCOUNT


def test_every_list_get_and_show_has_json(workdir: Path, env: dict[str, str]) -> None:
    def as_json(*args: str) -> object:
        return json.loads(cli([*args, "--json"], workdir, env).stdout)

    client = as_json("oauth2client", "get", "my-oauth2-client")
    assert isinstance(client, dict)
    assert client["client_id"].startswith("awc_")
    assert client["client_secret"].startswith("awsec_")
    text = cli(["oauth2client", "get", "my-oauth2-client"], workdir, env).stdout
    shown = dict(line.split(maxsplit=1) for line in text.splitlines())
    assert shown["client_id"] == client["client_id"]
    assert shown["client_secret"] == client["client_secret"]
    credentials = as_json("machineuser", "credentials", "admin-machine-user")
    assert isinstance(credentials, dict)
    assert {"client_id", "client_secret", "token_endpoint"} <= credentials.keys()
    for args in (
        ("keys", "list"),
        ("machineuser", "list"),
        ("oauth2client", "list"),
        ("apikey", "list"),
        ("org", "list"),
        ("machine", "list"),
        ("m2m", "list"),
        ("user", "list"),
        ("connection", "list"),
        ("jobs", "list", "--app", "jobs_app.py"),
        ("runs", "list", "--app", "jobs_app.py"),
    ):
        assert isinstance(as_json(*args), list), args
