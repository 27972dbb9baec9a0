"""``authward consent list|revoke`` as an operator runs them, on the embedded SQLite store."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from authward.cli.main import app
from authward.config import load_app
from authward.runtime import Authward
from authward.settings import load_settings

APP = """
from authward import db, define_auth, define_config

user = db.type("User", {"email": db.string().unique()})
auth = define_auth(
    "cli-auth",
    user_profile={"type": user, "username_field": "email"},
    oauth2_clients={"web": {"redirect_uris": ["https://client.example/cb"]}},
)
config = define_config(auth=auth, db=[user])
"""


async def _prepare(workdir: Path) -> tuple[str, str]:
    config, _ = load_app(workdir / "consent_app.py")
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'authward.db'}",
        key_file=workdir / "authward.key",
    )
    aw = await Authward.open(config, settings)
    try:
        account = await aw.users.create("ada@example.com", "a fine long password")
        client = await aw.clients.get("web")
        assert client is not None
        await aw.consents.grant(account.id, client.client_id, ("openid", "profile"))
        return account.id, client.client_id
    finally:
        await aw.close()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "consent_app.py").write_text(APP)
    # load_app puts the app's folder first on sys.path for good: undone after the test, or a
    # later `from app import ...` elsewhere in the suite could find this folder.
    monkeypatch.setattr(sys, "path", list(sys.path))
    return tmp_path


def consent(args: list[str], workdir: Path) -> Result:
    # In process (the CLI is typer): a subprocess per command would only add start-up time.
    env = {"AUTHWARD_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'authward.db'}"}
    env["AUTHWARD_KEY_FILE"] = str(workdir / "authward.key")
    return CliRunner().invoke(
        app, ["consent", *args, "--app", str(workdir / "consent_app.py")], env=env
    )


def test_list_and_revoke_consents(workdir: Path) -> None:
    user_id, client_id = asyncio.run(_prepare(workdir))
    listed = consent(["list", "--user", "ada@example.com", "--json"], workdir)
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert (row["client"], row["client_id"], row["scopes"]) == (
        "web",
        client_id,
        ["openid", "profile"],
    )
    # By user id too, as a table.
    table = consent(["list", "--user", user_id], workdir)
    assert table.exit_code == 0, table.output
    assert "openid profile" in table.stdout

    revoked = consent(["revoke", "ada@example.com", "web"], workdir)
    assert revoked.exit_code == 0, revoked.output
    after = consent(["list", "--user", "ada@example.com", "--json"], workdir)
    assert json.loads(after.stdout) == []

    again = consent(["revoke", "ada@example.com", client_id], workdir)
    assert again.exit_code == 1
    assert "has no consent" in again.stderr
    unknown = consent(["list", "--user", "nobody@example.com"], workdir)
    assert unknown.exit_code == 1
    assert "no user 'nobody@example.com'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
