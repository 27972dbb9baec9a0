"""examples/fastapi_app.py as its user runs it: `uvicorn examples.fastapi_app:app` on a free
port in an empty directory (its own SQLite database there), tokens from authward's CLI and from
the token endpoint the app serves itself, routes protected by the FastAPI dependency."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.serving import AUTHWARD, wait_until_answering
from tests.peers import free_port

EXAMPLE = str(ROOT / "examples" / "fastapi_app.py")


@dataclass
class Served:
    url: str
    cwd: Path
    env: dict[str, str]  # for the CLI: no AUTHWARD_PORT, the issuer comes from the store

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [*AUTHWARD, *args, "--app", EXAMPLE],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cwd = tmp_path_factory.mktemp("fastapi_app")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    uvicorn = [sys.executable, "-m", "uvicorn", "examples.fastapi_app:app"]
    proc = subprocess.Popen(
        [*uvicorn, "--app-dir", str(ROOT), "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env={**env, "AUTHWARD_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_answering(proc, url, lambda: proc.communicate()[1])
    try:
        yield Served(url, cwd, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
        # uvicorn raises the signal again once it has shut down (0 on older versions).
        assert proc.returncode in (0, -signal.SIGTERM), stderr
        assert "Traceback" not in stderr, stderr
        assert "Application shutdown complete" in stderr


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_app_has_its_own_database_in_its_directory(served: Served) -> None:
    assert (served.cwd / "authward-fastapi_app.db").is_file()
    assert httpx.get(served.url + "/healthz").json() == {"status": "ok"}  # the app's, public


def test_docs_and_openapi_are_public_and_declare_the_security_schemes(served: Served) -> None:
    docs = httpx.get(served.url + "/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    openapi = httpx.get(served.url + "/openapi.json")
    assert openapi.status_code == 200
    spec = openapi.json()
    schemes = spec["components"]["securitySchemes"]
    assert {name: (s["type"], s["scheme"]) for name, s in schemes.items()} == {
        "oauthToken": ("http", "bearer"),
        "apiKey": ("http", "bearer"),
    }
    # Either scheme authorizes a protected operation (Swagger's Authorize button offers both).
    assert spec["paths"]["/me"]["get"]["security"] == [{"oauthToken": []}, {"apiKey": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_a_cli_token_opens_a_protected_route(served: Served) -> None:
    token = served.cli("machineuser", "token", "reports-admin").strip()
    response = httpx.get(served.url + "/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["principal_type"] == "machine"
    assert me["attributes"]["role"] == "ADMIN"
    assert me["attributes"]["tokenType"] == "oauth_token"
    deleted = httpx.delete(served.url + "/reports/q1", headers=bearer(token))
    assert deleted.json() == {"deleted": "q1"}


def test_client_credentials_at_the_token_endpoint_the_app_serves(served: Served) -> None:
    credentials = json.loads(served.cli("machineuser", "credentials", "reports-reader", "--json"))
    assert credentials["token_endpoint"] == served.url + "/oauth2/token"
    discovery = httpx.get(served.url + "/.well-known/openid-configuration").json()
    assert discovery["issuer"] == served.url
    answer = httpx.post(
        credentials["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    me = httpx.get(served.url + "/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["attributes"]["role"] == "READER"
    refused = httpx.delete(served.url + "/reports/q1", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"


def test_an_api_key_opens_a_protected_route(served: Served) -> None:
    key = served.cli("apikey", "create", "ci", "--user", "user_42").strip()
    me = httpx.get(served.url + "/me", headers=bearer(key))
    assert me.status_code == 200, me.text
    assert me.json()["attributes"]["tokenType"] == "api_key"
    assert me.json()["attributes"]["userId"] == "user_42"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_no_token_and_forged_tokens_are_401(served: Served) -> None:
    none = httpx.get(served.url + "/me")
    assert none.status_code == 401
    assert none.json()["error"] == "authentication_required"
    assert none.headers["www-authenticate"] == 'Bearer realm="authward"'

    # A reader's token made to say ADMIN: its signature no longer matches.
    token = served.cli("machineuser", "token", "reports-reader").strip()
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["attribute_map"]["role"] = "ADMIN"
    forged = f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"
    for bad in (forged, f"{head}.{payload}.", "ak_" + "x" * 40):
        refused = httpx.delete(served.url + "/reports/q1", headers=bearer(bad))
        assert refused.status_code == 401, bad
        assert refused.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_the_docs_snippet_runs_as_written(tmp_path: Path) -> None:
    """docs/your-own-app.md's main.py beside the README's app.py, served by `uvicorn main:app`."""
    page = (ROOT / "docs" / "your-own-app.md").read_text()
    snippet = page.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "main.py").write_text(snippet)
    (tmp_path / "app.py").write_text((ROOT / "examples" / "app.py").read_text())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "main:app", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "AUTHWARD_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(
            proc, url, lambda: proc.communicate()[1], path="/.well-known/jwks.json"
        )
        token = subprocess.run(
            [*AUTHWARD, "machineuser", "token", "admin-machine-user", "--app", "app.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        me = httpx.get(url + "/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        assert set(me.json()) == {"id"}
        assert httpx.get(url + "/me").status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert "Traceback" not in stderr, stderr
    assert (tmp_path / "authward.db").is_file()  # app.py's own database, as the CLI's
