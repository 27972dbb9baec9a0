"""``authward connection add-developer|list|remove`` as an operator runs them (SQLite), the
token given on stdin and never printed; the vault of a process of our own reads what they wrote."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
from pathlib import Path

from authward.connections.client import TokenSet
from tests.e2e.conftest import opened_store
from tests.e2e.test_serve_and_cli import AUTHWARD
from tests.secret_scan import SCAN

APP = """
from authward import connection, db, define_auth, define_config

user = db.type("User", {"email": db.string().unique()})
auth = define_auth(
    "cli-auth",
    user_profile={"type": user, "username_field": "email"},
    connections=[connection.slack(scopes=["chat:write"])],
)
config = define_config(auth=auth, db=[user])
"""


def cli(
    args: list[str], workdir: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUTHWARD, "connection", *args],
        cwd=workdir,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_developer_connection_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    env["AUTHWARD_CONNECTION_SLACK_CLIENT_ID"] = "slack-client-id"
    env["AUTHWARD_CONNECTION_SLACK_CLIENT_SECRET"] = "slack-client-secret-0123456789"
    token = "xoxb-" + secrets.token_urlsafe(24)
    SCAN.secret(token, "developer token given to the CLI")

    added = cli(
        ["add-developer", "oauth_slack", "--token-stdin", "--scope", "chat:write"],
        tmp_path,
        env,
        stdin=token + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert token not in added.stdout + added.stderr

    # An account's connection, written by a process of our own.
    async def connect_account() -> None:
        os.environ.update({k: v for k, v in env.items() if k.startswith("AUTHWARD_CONNECTION")})
        async with opened_store(tmp_path) as aw:
            await aw.connections.store(
                "user_123",
                "oauth_slack",
                TokenSet("xoxp-" + secrets.token_urlsafe(24), None, "Bearer", None, None),
            )

    asyncio.run(connect_account())

    listed = cli(["list", "--json"], tmp_path, env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["account_id"], r["provider"], r["kind"]) for r in rows] == [
        (None, "oauth_slack", "developer"),
        ("user_123", "oauth_slack", "account"),
    ]
    assert rows[0]["scopes"] == ["chat:write"]
    assert "xox" not in listed.stdout

    removed = cli(["remove", "user_123", "oauth_slack", "--no-revoke"], tmp_path, env)
    assert removed.returncode == 0, removed.stderr
    again = cli(["remove", "user_123", "oauth_slack", "--no-revoke"], tmp_path, env)
    assert again.returncode == 1
    assert "has no oauth_slack connection" in again.stderr


def test_a_token_given_as_an_argument_is_refused_without_being_echoed(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    env["AUTHWARD_CONNECTION_SLACK_CLIENT_ID"] = "slack-client-id"
    env["AUTHWARD_CONNECTION_SLACK_CLIENT_SECRET"] = "slack-client-secret-0123456789"
    token = "xoxb-" + secrets.token_urlsafe(24)
    SCAN.secret(token, "developer token given to the CLI as an argument")

    refused = cli(["add-developer", "oauth_slack", token], tmp_path, env)

    assert refused.returncode != 0
    assert "never as an argument" in refused.stderr
    assert token not in refused.stdout + refused.stderr
    assert not (tmp_path / "authward.db").exists()  # nothing was opened, let alone written
