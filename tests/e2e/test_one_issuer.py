"""One issuer everywhere: `authward serve` on a port of its own records the issuer it answers
as, and the other commands on the same store sign and print for it (decision 033)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import EXAMPLE_APP
from tests.e2e.serving import start
from tests.e2e.test_serve_and_cli import cli, free_port


@pytest.fixture
def env() -> dict[str, str]:
    # No AUTHWARD_ISSUER, no AUTHWARD_PORT: the CLI learns the issuer from the store alone.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    return {**clean, "AUTHWARD_ADMIN_MACHINE_USERS": "admin-machine-user"}


@pytest.fixture
def served(workdir: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc, url = start(workdir, env, port=free_port())
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=10)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    _, stderr = proc.communicate(timeout=10)
    return stderr


def test_a_cli_token_verifies_at_the_server_on_its_own_port(
    served: tuple[str, subprocess.Popen[str]], workdir: Path, env: dict[str, str]
) -> None:
    url, _ = served
    token = cli(["machineuser", "token", "admin-machine-user"], workdir, env).stdout.strip()

    # The README's snippet, with the URL the server printed.
    key = jwt.PyJWKClient(f"{url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience=url, issuer=url)
    assert claims["attribute_map"] == {"role": "ADMIN"}

    response = httpx.get(url + "/v1/organizations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


def test_credentials_name_the_token_endpoint_of_the_running_server(
    served: tuple[str, subprocess.Popen[str]], workdir: Path, env: dict[str, str]
) -> None:
    url, _ = served
    printed = cli(["machineuser", "credentials", "admin-machine-user"], workdir, env).stdout
    assert f"{url}/oauth2/token" in printed
    data = json.loads(
        cli(["machineuser", "credentials", "admin-machine-user", "--json"], workdir, env).stdout
    )
    assert data["token_endpoint"] == f"{url}/oauth2/token"
    response = httpx.post(
        data["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(data["client_id"], data["client_secret"]),
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == url
    listed = httpx.get(url + "/v1/organizations", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text


def test_a_token_of_another_issuer_is_refused_naming_both(
    served: tuple[str, subprocess.Popen[str]], workdir: Path, env: dict[str, str]
) -> None:
    url, proc = served
    foreign = "http://127.0.0.1:8000"
    # Signed with this store's key, for the issuer an explicit AUTHWARD_ISSUER names.
    token = cli(
        ["machineuser", "token", "admin-machine-user"],
        workdir,
        {**env, "AUTHWARD_ISSUER": foreign},
    ).stdout.strip()
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == foreign

    response = httpx.get(url + "/v1/organizations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    reason = f"token was issued by {foreign!r}, this server is {url!r}"
    assert response.json() == {"error": "invalid_token", "message": reason}
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.endswith(f'error="invalid_token", error_description="{reason}"')

    log = _stop(proc)
    assert reason in log
    assert token.split(".")[2] not in log


def test_a_token_of_another_store_is_refused_naming_both_issuers(
    served: tuple[str, subprocess.Popen[str]], tmp_path: Path, env: dict[str, str]
) -> None:
    url, _ = served
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(EXAMPLE_APP, other / "app.py")
    cli(["migrate"], other, env)
    # Another store, never served: its own key, and the issuer of the default port.
    token = cli(["machineuser", "token", "admin-machine-user"], other, env).stdout.strip()

    response = httpx.get(url + "/v1/organizations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    reason = f"token was issued by 'http://127.0.0.1:8000', this server is {url!r}"
    assert response.json()["message"] == f"no authenticator accepted this request: {reason}"
    assert reason in response.headers["WWW-Authenticate"]
