"""``authward machineuser credentials NAME [--json]``: the printed credentials really get a
token at the printed token endpoint (client_credentials), the same kind of token as
``authward machineuser token``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from authward.server.app import build_app
from tests.e2e.conftest import opened_store
from tests.e2e.test_serve_and_cli import cli


async def _token_with(workdir: Path, client_id: str, secret: str, url: str) -> tuple[int, str]:
    """POST the credentials to the token endpoint of a server on the same store."""
    async with opened_store(workdir) as aw:
        transport = httpx.ASGITransport(app=build_app(aw))
        async with httpx.AsyncClient(transport=transport, base_url=aw.issuer) as client:
            response = await client.post(
                url, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
            )
        if response.status_code != 200:
            return response.status_code, ""
        principal = await aw.verify_access_token(response.json()["access_token"])
        return response.status_code, str(principal.attributes["role"])


def test_credentials_get_a_token(workdir: Path, env: dict[str, str]) -> None:
    cli(["migrate"], workdir, env)  # writes the config's machine users (decision 035)
    data = json.loads(
        cli(["machineuser", "credentials", "admin-machine-user", "--json"], workdir, env).stdout
    )
    assert data["client_id"].startswith("awm_")
    assert data["client_secret"].startswith("awsec_")
    assert data["token_endpoint"] == "http://127.0.0.1:8000/oauth2/token"
    assert data["grant_type"] == "client_credentials"
    listed = json.loads(cli(["machineuser", "list", "--json"], workdir, env).stdout)
    assert data["client_id"] in {m["client_id"] for m in listed}

    status, role = asyncio.run(
        _token_with(workdir, data["client_id"], data["client_secret"], data["token_endpoint"])
    )
    assert (status, role) == (200, "ADMIN")
    status, _ = asyncio.run(
        _token_with(workdir, data["client_id"], data["client_secret"] + "x", data["token_endpoint"])
    )
    assert status == 401

    human = cli(["machineuser", "credentials", "admin-machine-user"], workdir, env).stdout
    assert data["client_secret"] in human
    assert "curl" in human
    assert "grant_type=client_credentials" in human
    # The curl line shows where the secret goes, never the secret itself.
    curl_line = next(line for line in human.splitlines() if "curl" in line)
    assert data["client_secret"] not in curl_line


def test_unknown_machine_user(workdir: Path, env: dict[str, str]) -> None:
    result = cli(["machineuser", "credentials", "nobody"], workdir, env, check=False)
    assert result.returncode == 1
    assert "nobody" in result.stderr
