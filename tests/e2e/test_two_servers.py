"""Two `authward serve` processes on one PostgreSQL database, as one authorization server behind a
load balancer: every request names the same public host (the issuer's), whichever process gets
it. A code issued by one is redeemed at the other, a revocation at one is seen at the other, and a
DPoP proof spent at one is refused at the other (the replay cache is the shared database)."""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from authward.oauth.pkce import s256_challenge
from tests.conftest import EXAMPLE_APP, fresh_postgres_database
from tests.e2e.serving import AUTHWARD, servers
from tests.e2e.test_serve_and_cli import cli
from tests.integration.oauth_support import DpopKey

PUBLIC_HOST = "localhost"
ISSUER = f"http://{PUBLIC_HOST}"
TOKEN_URL = f"{ISSUER}/oauth2/token"
REDIRECT = "http://127.0.0.1:3000/callback"
USERNAME = "alice@example.com"
PASSWORD = "two-servers-" + secrets.token_hex(8)
#: How stale a process's view of revocations may get (AUTHWARD_CACHE_REFRESH_SECONDS).
CACHE_SECONDS = 0.3
PROFILE = [
    "--attribute",
    "organization_id=550e8400-e29b-41d4-a716-446655440000",
    "--attribute",
    "team_id=7c9e6679-7425-40de-944b-e07fc1f90ae7",
]


@dataclass
class Cluster:
    a: str
    b: str
    client_id: str
    client_secret: str


@pytest.fixture(scope="module")
def shared_database() -> Iterator[str]:
    """One fresh PostgreSQL database for the module's pair of servers."""
    with fresh_postgres_database() as url:
        yield url


def prepare_store(workdir: Path, env: dict[str, str], password: str) -> None:
    """The example app in ``workdir``, its store migrated, and the user USERNAME in it with
    ``password`` and the attributes the app requires."""
    shutil.copy(EXAMPLE_APP, workdir / "app.py")
    cli(["migrate", "--app", "app.py"], workdir, env)
    created = subprocess.run(
        [*AUTHWARD, "user", "create", "--username", USERNAME, "--password-stdin", *PROFILE],
        cwd=workdir,
        env=env,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr


@pytest.fixture(scope="module")
def cluster(shared_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("two-servers")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    base_env |= {
        "AUTHWARD_DATABASE_URL": shared_database,
        # One instance key and one issuer: the two processes are one authorization server.
        "AUTHWARD_SECRET_KEY": secrets.token_urlsafe(32),
        "AUTHWARD_ISSUER": ISSUER,
        "AUTHWARD_CACHE_REFRESH_SECONDS": str(CACHE_SECONDS),
    }
    prepare_store(workdir, base_env, PASSWORD)
    client = json.loads(
        cli(["oauth2client", "get", "my-oauth2-client", "--json"], workdir, base_env).stdout
    )
    with servers(workdir, base_env, 2) as urls:
        yield Cluster(urls[0], urls[1], client["client_id"], client["client_secret"])


def behind_balancer(url: str) -> httpx.Client:
    """A client of one process, addressing it by the public name as a load balancer would."""
    return httpx.Client(base_url=url, headers={"Host": PUBLIC_HOST}, timeout=60)


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)
    assert match, f"no {name} field in:\n{page}"
    return html.unescape(match.group(1))


def authorization_code(browser: httpx.Client, client_id: str, verifier: str) -> str:
    """Drive /oauth2/authorize as a browser without JavaScript: sign in and consent if asked."""
    state = secrets.token_urlsafe(12)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid offline_access",
            "state": state,
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": s256_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    response = browser.get("/oauth2/authorize?" + query)
    for _ in range(6):
        if response.status_code == 303:
            target = response.headers["location"]
            if target.startswith(REDIRECT):
                break
            response = browser.get(target)
            continue
        assert response.status_code == 200, response.text
        page = response.text
        fields = {"csrf_token": _hidden(page, "csrf_token"), "ticket": _hidden(page, "ticket")}
        if 'action="/login"' in page:
            response = browser.post(
                "/login", data={**fields, "username": USERNAME, "password": PASSWORD}
            )
        else:
            response = browser.post("/consent", data={**fields, "decision": "allow"})
    params = parse_qs(urlsplit(target).query)
    assert params["state"] == [state]
    assert params["iss"] == [ISSUER]
    return params["code"][0]


@pytest.fixture(scope="module")
def browser_at_a(cluster: Cluster) -> Iterator[httpx.Client]:
    """One browser, signed in at server A after the first authorization (consent remembered)."""
    with behind_balancer(cluster.a) as browser:
        yield browser


def token(server: str, cluster: Cluster, form: dict[str, str], proof: str | None) -> httpx.Response:
    with behind_balancer(server) as c:
        return c.post(
            "/oauth2/token",
            data=form,
            auth=(cluster.client_id, cluster.client_secret),
            headers={"DPoP": proof} if proof else {},
        )


def redeem(server: str, cluster: Cluster, code: str, verifier: str, proof: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    return token(server, cluster, form, proof)


def refresh(server: str, cluster: Cluster, refresh_token: str, proof: str) -> httpx.Response:
    return token(
        server, cluster, {"grant_type": "refresh_token", "refresh_token": refresh_token}, proof
    )


def introspect(server: str, cluster: Cluster, value: str) -> dict[str, object]:
    with behind_balancer(server) as c:
        response = c.post(
            "/oauth2/introspect",
            data={"token": value},
            auth=(cluster.client_id, cluster.client_secret),
        )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def revoke(server: str, cluster: Cluster, value: str) -> None:
    with behind_balancer(server) as c:
        response = c.post(
            "/oauth2/revoke", data={"token": value}, auth=(cluster.client_id, cluster.client_secret)
        )
    assert response.status_code == 200, response.text


def let_caches_expire() -> None:
    """Each process re-reads revocations once its view is older than the cache interval."""
    time.sleep(CACHE_SECONDS * 2)


def test_a_code_from_one_server_is_redeemed_once_at_the_other(
    cluster: Cluster, browser_at_a: httpx.Client
) -> None:
    key = DpopKey()
    verifier = secrets.token_urlsafe(48)
    code = authorization_code(browser_at_a, cluster.client_id, verifier)
    issued = redeem(cluster.b, cluster, code, verifier, key.proof(TOKEN_URL))
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert tokens["token_type"] == "DPoP"
    assert {"access_token", "refresh_token", "id_token"} <= tokens.keys()
    assert introspect(cluster.a, cluster, tokens["access_token"])["active"] is True

    replay = redeem(cluster.a, cluster, code, verifier, key.proof(TOKEN_URL))
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: the replay revoked what the first redemption issued, at both servers.
    assert introspect(cluster.b, cluster, tokens["refresh_token"]) == {"active": False}
    let_caches_expire()
    for server in (cluster.a, cluster.b):
        assert introspect(server, cluster, tokens["access_token"]) == {"active": False}
    refused = refresh(cluster.b, cluster, tokens["refresh_token"], key.proof(TOKEN_URL))
    assert refused.json()["error"] == "invalid_grant"


def test_a_revocation_at_one_server_is_seen_at_the_other(
    cluster: Cluster, browser_at_a: httpx.Client
) -> None:
    key = DpopKey()
    verifier = secrets.token_urlsafe(48)
    code = authorization_code(browser_at_a, cluster.client_id, verifier)
    issued = redeem(cluster.a, cluster, code, verifier, key.proof(TOKEN_URL))
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    active = introspect(cluster.b, cluster, tokens["access_token"])
    assert active["active"] is True
    assert active["cnf"] == {"jkt": key.jkt}
    assert introspect(cluster.b, cluster, tokens["refresh_token"])["active"] is True

    revoke(cluster.a, cluster, tokens["access_token"])
    let_caches_expire()
    assert introspect(cluster.b, cluster, tokens["access_token"]) == {"active": False}
    # Only the access token was revoked: its refresh token still works, at the other server.
    rotated = refresh(cluster.b, cluster, tokens["refresh_token"], key.proof(TOKEN_URL))
    assert rotated.status_code == 200, rotated.text
    fresh = rotated.json()

    revoke(cluster.a, cluster, fresh["refresh_token"])
    assert introspect(cluster.b, cluster, fresh["refresh_token"]) == {"active": False}
    refused = refresh(cluster.b, cluster, fresh["refresh_token"], key.proof(TOKEN_URL))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    # RFC 7009 §2.1: revoking the refresh token revoked the access tokens of its grant too.
    let_caches_expire()
    assert introspect(cluster.b, cluster, fresh["access_token"]) == {"active": False}


def test_a_dpop_proof_spent_at_one_server_is_refused_at_the_other(
    cluster: Cluster, browser_at_a: httpx.Client
) -> None:
    key = DpopKey()
    verifier = secrets.token_urlsafe(48)
    code = authorization_code(browser_at_a, cluster.client_id, verifier)
    proof = key.proof(TOKEN_URL)
    issued = redeem(cluster.a, cluster, code, verifier, proof)
    assert issued.status_code == 200, issued.text
    refresh_token = issued.json()["refresh_token"]

    replayed = refresh(cluster.b, cluster, refresh_token, proof)
    assert replayed.status_code == 400
    body = replayed.json()
    assert body["error"] == "invalid_dpop_proof"
    assert "replay" in body["error_description"]
    # The refusal was the proof's alone: the refresh token was not spent by it.
    rotated = refresh(cluster.b, cluster, refresh_token, key.proof(TOKEN_URL))
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["token_type"] == "DPoP"
