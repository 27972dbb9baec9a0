"""``authward user create|list|disable|enable|set-password`` as an operator runs them, on the
embedded SQLite store; sign-in is checked by a process of our own on the same store."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from authward.users import InvalidCredentials
from tests.e2e.conftest import opened_store
from tests.e2e.test_serve_and_cli import AUTHWARD, cli

ORG = "550e8400-e29b-41d4-a716-446655440000"
TEAM = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
PROFILE = ["--attribute", f"organization_id={ORG}", "--attribute", f"team_id={TEAM}"]
PASSWORD = "first-password-8d1e"
NEW_PASSWORD = "second-password-40aa"


def user(
    args: list[str], workdir: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUTHWARD, "user", *args],
        cwd=workdir,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


async def _sign_in(workdir: Path, username: str, password: str) -> str:
    """The user id these credentials sign in as, or "refused"."""
    async with opened_store(workdir) as aw:
        try:
            return (await aw.users.authenticate(username, password, ip=None)).id
        except InvalidCredentials:
            return "refused"


def sign_in(workdir: Path, username: str, password: str) -> str:
    return asyncio.run(_sign_in(workdir, username, password))


def test_create_list_disable_enable_set_password(workdir: Path, env: dict[str, str]) -> None:
    created = user(
        ["create", "--username", "alice@example.com", "--password-stdin", *PROFILE, "--json"],
        workdir,
        env,
        stdin=PASSWORD + "\n",
    )
    account = json.loads(ok(created))
    assert account["username"] == "alice@example.com"
    assert account["disabled"] is False
    assert sign_in(workdir, "alice@example.com", PASSWORD) == account["id"]

    listed = json.loads(ok(user(["list", "--json"], workdir, env)))
    assert [(u["username"], u["id"], u["disabled"]) for u in listed] == [
        ("alice@example.com", account["id"], False)
    ]

    disabled = user(["disable", "alice@example.com"], workdir, env)
    assert "disabled user alice@example.com" in ok(disabled)
    assert sign_in(workdir, "alice@example.com", PASSWORD) == "refused"
    table = ok(user(["list"], workdir, env))
    assert "alice@example.com" in table
    assert "disabled" in table

    ok(user(["enable", "alice@example.com"], workdir, env))
    assert sign_in(workdir, "alice@example.com", PASSWORD) == account["id"]

    changed = user(
        ["set-password", "alice@example.com", "--password-stdin"],
        workdir,
        env,
        stdin=NEW_PASSWORD + "\n",
    )
    ok(changed)
    assert sign_in(workdir, "alice@example.com", PASSWORD) == "refused"
    assert sign_in(workdir, "alice@example.com", NEW_PASSWORD) == account["id"]

    outputs = [r.stdout + r.stderr for r in (created, disabled, changed)]
    assert not any(PASSWORD in o or NEW_PASSWORD in o for o in outputs)


def test_refusals_are_one_line(workdir: Path, env: dict[str, str]) -> None:
    create = ["create", "--username", "bob@example.com"]
    assert "--password-stdin" in refused(user(create, workdir, env))
    assert "at least 8 characters" in refused(
        user([*create, "--password-stdin", *PROFILE], workdir, env, stdin="short\n")
    )
    assert "User.organization_id: is required" in refused(
        user([*create, "--password-stdin"], workdir, env, stdin=PASSWORD)
    )
    admin = [*create, "--password-stdin", *PROFILE, "--attribute", "role=ADMIN"]
    # The app's validator: only admins make admins; the CLI acts as nobody unless told.
    assert "User.role: only admins can make admins" in refused(
        user(admin, workdir, env, stdin=PASSWORD)
    )
    assert "run `authward migrate`" in refused(
        user([*admin, "--as", "admin-machine-user"], workdir, env, stdin=PASSWORD)
    )
    cli(["migrate"], workdir, env)  # writes the config's machine users (decision 035)
    made = json.loads(
        ok(user([*admin, "--as", "admin-machine-user", "--json"], workdir, env, stdin=PASSWORD))
    )
    assert made["username"] == "bob@example.com"
    assert "already exists" in refused(
        user([*create, "--password-stdin", *PROFILE], workdir, env, stdin=PASSWORD)
    )
    assert "no user with username 'carol@example.com'" in refused(
        user(["disable", "carol@example.com"], workdir, env)
    )
    assert "User.nickname" in refused(
        user([*create, "--password-stdin", "--attribute", "nickname=b"], workdir, env, PASSWORD)
    )
