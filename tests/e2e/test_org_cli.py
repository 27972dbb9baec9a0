"""``authward org ...`` as a user runs them, on the embedded SQLite store, with an app that defines
its organization roles."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.test_serve_and_cli import cli

APP = """
from authward import define_auth, define_config

auth = define_auth(
    "org-app",
    organization_roles={
        "admin": ["org:reports:read", "org:reports:delete"],
        "member": ["org:reports:read"],
    },
)
config = define_config(auth=auth)
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


@pytest.fixture
def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}


def test_organizations_and_members(workdir: Path, env: dict[str, str]) -> None:
    created = json.loads(
        cli(["org", "create", "acme", "--name", "Acme Inc.", "--json"], workdir, env).stdout
    )
    assert created["id"].startswith("org_")
    assert (created["slug"], created["name"]) == ("acme", "Acme Inc.")
    plain = cli(["org", "create", "globex"], workdir, env).stdout.strip()
    assert plain.startswith("org_")

    listed = json.loads(cli(["org", "list", "--json"], workdir, env).stdout)
    assert [(o["slug"], o["name"]) for o in listed] == [("acme", "Acme Inc."), ("globex", "globex")]
    table = cli(["org", "list"], workdir, env).stdout
    assert "acme" in table
    assert "Acme Inc." in table

    added = cli(["org", "add-member", "acme", "user-1", "--role", "admin"], workdir, env)
    assert "user-1 is now admin of acme" in added.stdout
    cli(["org", "add-member", created["id"], "user-2", "--role", "member"], workdir, env)

    members = json.loads(cli(["org", "members", "acme", "--json"], workdir, env).stdout)
    assert [(m["user_id"], m["role"], m["permissions"]) for m in members] == [
        ("user-1", "admin", ["org:reports:read", "org:reports:delete"]),
        ("user-2", "member", ["org:reports:read"]),
    ]
    assert "org:reports:delete" in cli(["org", "members", "acme"], workdir, env).stdout

    cli(["org", "set-role", "acme", "user-2", "--role", "admin"], workdir, env)
    removed = cli(["org", "remove-member", "acme", "user-1"], workdir, env)
    assert "removed user-1 from acme" in removed.stdout
    members = json.loads(cli(["org", "members", "acme", "--json"], workdir, env).stdout)
    assert [(m["user_id"], m["role"]) for m in members] == [("user-2", "admin")]

    cli(["org", "delete", "globex"], workdir, env)
    assert [o["slug"] for o in json.loads(cli(["org", "list", "--json"], workdir, env).stdout)] == [
        "acme"
    ]


def test_mistakes_are_one_line_errors(workdir: Path, env: dict[str, str]) -> None:
    cli(["org", "create", "acme"], workdir, env)
    for args, message in [
        (["org", "create", "acme"], "slug 'acme' already exists"),
        (["org", "create", "Not_A_Slug"], "is not a slug"),
        (
            ["org", "add-member", "acme", "user-1", "--role", "owner"],
            "unknown organization role 'owner' (known: admin, member",
        ),
        (["org", "add-member", "nope", "user-1", "--role", "admin"], "no organization 'nope'"),
        (["org", "members", "nope"], "no organization 'nope'"),
        (["org", "remove-member", "acme", "user-9"], "'user-9' is not a member of 'acme'"),
        (["org", "delete", "nope"], "no organization 'nope'"),
    ]:
        result = cli(args, workdir, env, check=False)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
        assert "Traceback" not in result.stderr
