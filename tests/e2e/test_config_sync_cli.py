"""Config sync as a user meets it (decisions 035, 036): a command run with another ``--app``
never deletes or re-keys the first app's machine users and clients; serve and migrate say what
they add, change or would remove, and remove only with ``--prune``; each example keeps its own
database by default."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.serving import wait_until_answering
from tests.e2e.test_serve_and_cli import AUTHWARD, cli, free_port

EXAMPLES = ("app.py", "jobs.py", "byo_auth.py", "agent_channel.py")
MACHINE_USERS = ("admin-machine-user", "readonly-machine-user")
APP_ITEMS = (
    "machine user admin-machine-user",
    "machine user readonly-machine-user",
    "oauth2 client my-oauth2-client",
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in EXAMPLES:
        shutil.copy(ROOT / "examples" / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def own_env() -> dict[str, str]:
    """No AUTHWARD_DATABASE_URL: each app gets its default database."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    return {
        **clean,
        "AUTHWARD_PORT": str(free_port()),
        # examples/byo_auth.py needs its OAuth apps' credentials to load.
        "AUTHWARD_CONNECTION_SLACK_CLIENT_ID": "slack-id",
        "AUTHWARD_CONNECTION_SLACK_CLIENT_SECRET": "slack-secret-value",
        "AUTHWARD_CONNECTION_GITHUB_CLIENT_ID": "github-id",
        "AUTHWARD_CONNECTION_GITHUB_CLIENT_SECRET": "github-secret-value",
    }


@pytest.fixture
def env(own_env: dict[str, str]) -> dict[str, str]:
    """Every app on one database, as any two apps used to be."""
    return {**own_env, "AUTHWARD_DATABASE_URL": "sqlite+aiosqlite:///./shared.db"}


def credentials(workdir: Path, env: dict[str, str]) -> dict[str, tuple[str, str]]:
    """The id and secret of each of examples/app.py's machine users and clients."""
    app = ["--app", "app.py", "--json"]
    out = {}
    for name in MACHINE_USERS:
        row = json.loads(cli(["machineuser", "credentials", name, *app], workdir, env).stdout)
        out[name] = (row["client_id"], row["client_secret"])
    row = json.loads(cli(["oauth2client", "get", "my-oauth2-client", *app], workdir, env).stdout)
    out["my-oauth2-client"] = (row["client_id"], row["client_secret"])
    return out


def serve_once(workdir: Path, env: dict[str, str], app: str) -> str:
    """Start `authward serve`, wait until it answers, stop it; returns what it printed."""
    out = workdir / "serve.out"
    with out.open("w") as stdout:
        proc = subprocess.Popen(
            [*AUTHWARD, "serve", "--app", app],
            cwd=workdir,
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{env['AUTHWARD_PORT']}"
            wait_until_answering(proc, url, lambda: proc.communicate()[1])
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    return out.read_text()


def test_commands_with_another_app_leave_the_first_apps_credentials(
    workdir: Path, env: dict[str, str]
) -> None:
    cli(["migrate", "--app", "app.py"], workdir, env)
    before = credentials(workdir, env)
    token = cli(["machineuser", "token", "admin-machine-user", "--app", "app.py"], workdir, env)
    stderr = {
        args[0]: cli([*args, "--app", "byo_auth.py"], workdir, env).stderr
        for args in (["runs", "list"], ["oauth2client", "list"], ["machineuser", "list"])
    }
    assert credentials(workdir, env) == before
    verified = cli(["token", "verify", token.stdout.strip(), "--app", "app.py"], workdir, env)
    assert json.loads(verified.stdout)["attributes"] == {"role": "ADMIN"}
    # The lists show the store, and say it is not byo_auth.py's.
    assert "not in step with byo_auth.py" in stderr["oauth2client"]
    assert "not in step with byo_auth.py" in stderr["machineuser"]


def test_serve_and_migrate_refuse_to_remove_without_prune(
    workdir: Path, env: dict[str, str]
) -> None:
    cli(["migrate", "--app", "app.py"], workdir, env)
    before = credentials(workdir, env)
    for command in ("migrate", "serve"):
        refused = cli([command, "--app", "byo_auth.py"], workdir, env, check=False)
        assert refused.returncode == 1
        lines = refused.stderr.splitlines()
        assert lines[:-1] == [f"authward: would remove {what}" for what in APP_ITEMS]
        assert lines[-1].startswith("error: the store holds machine user admin-machine-user")
        assert "--prune" in lines[-1]
        assert "Traceback" not in refused.stderr
    assert credentials(workdir, env) == before

    # AUTHWARD_SYNC_PRUNE=true lets serve remove them, one line each.
    printed = serve_once(workdir, {**env, "AUTHWARD_SYNC_PRUNE": "true"}, "byo_auth.py")
    assert [f"authward: removed {what}" for what in APP_ITEMS] == [
        line for line in printed.splitlines() if "removed" in line
    ]
    get = ["oauth2client", "get", "my-oauth2-client", "--app", "app.py"]
    missing = cli(get, workdir, env, check=False)
    assert missing.returncode == 1
    assert "run `authward migrate` or `authward serve`" in missing.stderr

    # And --prune lets migrate remove them: examples/app.py's come back with new ones.
    added = cli(["migrate", "--app", "app.py"], workdir, env).stdout
    assert [f"  added {what}" for what in APP_ITEMS] == [
        line for line in added.splitlines() if "added" in line
    ]
    assert credentials(workdir, env) != before
    pruned = cli(["migrate", "--app", "byo_auth.py", "--prune"], workdir, env).stdout
    assert [f"  removed {what}" for what in APP_ITEMS] == [
        line for line in pruned.splitlines() if "removed" in line
    ]


def test_serve_and_migrate_print_what_they_add_and_change(
    workdir: Path, own_env: dict[str, str]
) -> None:
    printed = serve_once(workdir, own_env, "app.py").splitlines()
    assert [f"authward: added {what}" for what in APP_ITEMS] == [
        line for line in printed if " added " in line
    ]
    before = credentials(workdir, own_env)
    app = workdir / "app.py"
    app.write_text(app.read_text().replace("127.0.0.1:3000/callback", "127.0.0.1:3000/cb"))
    changed = cli(["migrate", "--app", "app.py"], workdir, own_env).stdout.splitlines()
    assert "  changed oauth2 client my-oauth2-client (redirect_uris)" in changed
    assert not [line for line in changed if "added" in line or "removed" in line]
    assert credentials(workdir, own_env) == before
    assert cli(["migrate", "--app", "app.py"], workdir, own_env).stdout.strip() == "up to date"


def test_examples_keep_their_own_data_by_default(workdir: Path, own_env: dict[str, str]) -> None:
    """The README's commands, example after example, on the defaults."""
    alice = [
        "user",
        "create",
        "--username",
        "alice@example.com",
        "--password-stdin",
        "--attribute",
        "organization_id=550e8400-e29b-41d4-a716-446655440000",
        "--attribute",
        "team_id=7c9e6679-7425-40de-944b-e07fc1f90ae7",
    ]
    for app in ("app.py", "jobs.py"):
        created = subprocess.run(
            [*AUTHWARD, *alice, "--app", app],
            cwd=workdir,
            env=own_env,
            input="correct horse battery staple\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stderr
    cli(["migrate", "--app", "app.py"], workdir, own_env)
    before = credentials(workdir, own_env)
    for app in ("jobs.py", "byo_auth.py", "agent_channel.py"):
        cli(["migrate", "--app", app], workdir, own_env)
    assert credentials(workdir, own_env) == before
    users = json.loads(
        cli(["user", "list", "--json", "--app", "byo_auth.py"], workdir, own_env).stdout
    )
    assert users == []
    assert sorted(p.name for p in workdir.glob("*.db")) == [
        "authward-agent_channel.db",
        "authward-byo_auth.db",
        "authward-jobs.db",
        "authward.db",
    ]
    assert sorted(p.name for p in workdir.glob("*.key")) == ["authward.key"]
