"""The README's promise, end to end: serve the example on SQLite, mint a machine-user token
with the CLI, and verify it with an independent library (PyJWT) from the served JWKS."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.e2e.serving import AUTHWARD, start
from tests.peers import free_port


@pytest.fixture
def env(workdir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    return {**clean, "AUTHWARD_PORT": str(free_port())}


def cli(
    args: list[str], cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*AUTHWARD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(f"authward {' '.join(args)} failed:\n{result.stderr}")
    return result


def serve(workdir: Path, env: dict[str, str], app: str = "app.py") -> Iterator[str]:
    """Run `authward serve` until the caller is done; yields the URL it printed."""
    proc, url = start(workdir, env, app)
    try:
        yield url
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
        assert "Traceback" not in stderr, stderr


@pytest.fixture
def server(workdir: Path, env: dict[str, str]) -> Iterator[str]:
    yield from serve(workdir, env)


def test_served_jwks_verifies_a_cli_token_with_pyjwt(
    server: str, workdir: Path, env: dict[str, str]
) -> None:
    response = httpx.get(server + "/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    jwks = response.json()
    # The access-token key (Ed25519), then the RS256 one for the app's client's ID tokens.
    assert [(k["kty"], k["alg"]) for k in jwks["keys"]] == [("OKP", "EdDSA"), ("RSA", "RS256")]
    assert all(not {"d", "p", "q"} & k.keys() for k in jwks["keys"])

    token = cli(["machineuser", "token", "admin-machine-user"], workdir, env).stdout
    assert token.count("\n") == 1
    token = token.strip()
    signing_key = jwt.PyJWKClient(server + "/.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        audience=server,
        issuer=server,
        options={"require": ["exp", "iat", "sub", "jti", "client_id"]},
    )
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    assert claims["attribute_map"] == {"role": "ADMIN"}
    assert claims["attributes"][0] == "550e8400-e29b-41d4-a716-446655440000"

    machine_users = json.loads(cli(["machineuser", "list", "--json"], workdir, env).stdout)
    admin = next(m for m in machine_users if m["name"] == "admin-machine-user")
    assert claims["sub"] == admin["id"]
    assert claims["client_id"] == admin["client_id"]


def test_embedded_store_is_sqlite_in_wal_mode_with_a_private_key_file(
    server: str, workdir: Path
) -> None:
    db = workdir / "authward.db"
    assert db.exists()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert stat.S_IMODE((workdir / "authward.key").stat().st_mode) == 0o600


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_stop_signal_closes_the_store_before_the_process_exits(
    workdir: Path, env: dict[str, str], sig: signal.Signals, status: int
) -> None:
    proc, url = start(workdir, env)
    client = cli(["oauth2client", "get", "my-oauth2-client", "--json"], workdir, env).stdout
    credentials = json.loads(client)
    for _ in range(5):  # requests that use the store, so the server holds open connections
        answer = httpx.post(
            url + "/oauth2/revoke",
            data={"token": "unknown"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        )
        assert answer.status_code == 200
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr, stderr
    # SQLite removes the write-ahead log when the last connection to the database closes.
    assert (workdir / "authward.db").exists()
    assert not (workdir / "authward.db-wal").exists()


def test_oauth2client_get_prints_credentials_that_survive_restarts(
    workdir: Path, env: dict[str, str]
) -> None:
    cli(["migrate"], workdir, env)  # writes the config's clients (decision 035)
    first = json.loads(
        cli(["oauth2client", "get", "my-oauth2-client", "--json"], workdir, env).stdout
    )
    assert first["client_id"].startswith("awc_")
    assert first["client_secret"].startswith("awsec_")
    assert first["require_dpop"] is True
    again = json.loads(
        cli(["oauth2client", "get", "my-oauth2-client", "--json"], workdir, env).stdout
    )
    assert again == first
    human = cli(["oauth2client", "get", "my-oauth2-client"], workdir, env).stdout
    assert first["client_secret"] in human
    listed = json.loads(cli(["oauth2client", "list", "--json"], workdir, env).stdout)
    assert [c["name"] for c in listed] == ["my-oauth2-client"]
    assert "client_secret" not in listed[0]


def test_token_revoke_and_verify_through_the_cli(workdir: Path, env: dict[str, str]) -> None:
    cli(["migrate"], workdir, env)  # writes the config's machine users (decision 035)
    token = cli(["machineuser", "token", "readonly-machine-user"], workdir, env).stdout.strip()
    principal = json.loads(cli(["token", "verify", token], workdir, env).stdout)
    assert principal["attributes"] == {"role": "READER"}
    assert principal["principal_type"] == "machine"
    cli(["token", "revoke", token], workdir, env)
    refused = cli(["token", "verify", token], workdir, env, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: token has been revoked"


def test_keys_rotate_keeps_the_old_key_published(workdir: Path, env: dict[str, str]) -> None:
    cli(["migrate"], workdir, env)
    before = json.loads(cli(["keys", "list", "--json"], workdir, env).stdout)
    out = cli(["keys", "rotate", "--alg", "ES256"], workdir, env).stdout
    after = json.loads(cli(["keys", "list", "--json"], workdir, env).stdout)
    # The access-token key (ES256 now), and the RS256 one for the app's client's ID tokens.
    new = [k for k in after if k["signing"]]
    assert [(k["alg"], k["signs_access"]) for k in new] == [("ES256", True), ("RS256", False)]
    assert all(k["kid"] in out for k in new)
    old = [k for k in after if not k["signing"]]
    assert {k["kid"] for k in old} == {k["kid"] for k in before}
    assert all(k["published_until"] is not None for k in old)


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (
            lambda d: (d / "app.py").write_text(
                "from authward import db\nx = db.type('user', {})\n"
            ),
            ["migrate"],
            "error: db.type('user'): type names start with an upper-case letter",
        ),
        (lambda d: (d / "app.py").unlink(), ["migrate"], "error: app file 'app.py' not found"),
        (lambda d: None, ["machineuser", "token", "nobody"], "error: no machine user 'nobody'"),
        (lambda d: None, ["oauth2client", "get", "nobody"], "error: no OAuth 2.0 client 'nobody'"),
        (lambda d: None, ["token", "verify", "not-a-token"], "error: not a signed JWT"),
    ],
)
def test_user_mistakes_are_one_line_without_a_traceback(
    workdir: Path, env: dict[str, str], setup: object, args: list[str], message: str
) -> None:
    assert callable(setup)
    setup(workdir)
    result = cli(args, workdir, env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_debug_shows_the_traceback(workdir: Path, env: dict[str, str]) -> None:
    result = cli(["--debug", "machineuser", "token", "nobody"], workdir, env, check=False)
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_missing_key_file_and_unreachable_database(workdir: Path, env: dict[str, str]) -> None:
    cli(["migrate"], workdir, env)
    (workdir / "authward.key").unlink()
    result = cli(["machineuser", "list"], workdir, env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: key file authward.key is missing")
    unreachable = {**env, "AUTHWARD_DATABASE_URL": "postgresql://postgres:pw@127.0.0.1:1/x"}
    result = cli(["machineuser", "list"], workdir, unreachable, check=False)
    assert result.stderr.startswith("error: cannot use database postgresql+asyncpg://postgres:***@")
    assert "pw@" not in result.stderr


def test_serve_refuses_a_port_in_use(workdir: Path, env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(env["AUTHWARD_PORT"])))
        busy.listen()
        result = cli(["serve"], workdir, env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{env['AUTHWARD_PORT']}")
