"""``authward oauth2client registered list|revoke`` as a user runs them, on the embedded SQLite
store (decision 049): a client registered through RFC 7591 is listed without its secret and
revoked; config sync (every CLI command opens the app) leaves it alone."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from authward.store.audit import AuditEvent
from authward.store.registered_clients import RegisteredClientRow, RegisteredClientStore
from tests.e2e.conftest import opened_store
from tests.e2e.test_serve_and_cli import cli

CLIENT_ID = "awr_cli-test-client"


async def _register(workdir: Path) -> None:
    """A registration as the endpoint stores it (the example app keeps the endpoint off; the
    clients registered before stay listed and revocable)."""
    async with opened_store(workdir) as aw:
        now = datetime.now(UTC)
        row = RegisteredClientRow(
            client_id=CLIENT_ID,
            secret_sha256="ab" * 32,
            token_endpoint_auth_method="client_secret_basic",
            application_type="native",
            redirect_uris=("http://127.0.0.1:4000/cb",),
            grant_types=("authorization_code",),
            response_types=("code",),
            client_name="CLI agent",
            logo_uri=None,
            client_uri=None,
            scope=None,
            created_at=now,
        )
        await RegisteredClientStore(aw.engine, aw.audit).add(
            row, AuditEvent("client.registered", now, client_id=CLIENT_ID)
        )


def test_list_and_revoke(workdir: Path, env: dict[str, str]) -> None:
    cli(["migrate"], workdir, env)
    asyncio.run(_register(workdir))
    listed = json.loads(cli(["oauth2client", "registered", "list", "--json"], workdir, env).stdout)
    assert [(c["client_id"], c["client_name"]) for c in listed] == [(CLIENT_ID, "CLI agent")]
    assert "ab" * 32 not in json.dumps(listed)
    table = cli(["oauth2client", "registered", "list"], workdir, env).stdout
    assert CLIENT_ID in table
    assert "native" in table

    revoked = cli(["oauth2client", "registered", "revoke", CLIENT_ID], workdir, env)
    assert f"revoked registered client {CLIENT_ID}" in revoked.stdout
    again = cli(["oauth2client", "registered", "revoke", CLIENT_ID], workdir, env, check=False)
    assert again.returncode != 0
    assert "no registered client" in again.stderr
    assert (
        json.loads(cli(["oauth2client", "registered", "list", "--json"], workdir, env).stdout) == []
    )
