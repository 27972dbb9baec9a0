"""DPoP at the token endpoint (RFC 9449 §5, §8, §10): bound access tokens, clients that require
DPoP, public clients' bound refresh tokens, ``dpop_jkt``, and proofs that must be refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from authward.config import Config
from authward.runtime import Authward
from tests.conftest import SettingsFactory
from tests.integration.oauth_support import (
    REDIRECT,
    DpopKey,
    credentials,
    http,
    issue_code,
    jwt_claims,
    make_user,
    new_verifier,
    oauth_config,
)


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    runtime = await Authward.open(
        oauth_config(example_config), settings_for(database_url), migrate=True
    )
    yield runtime
    await runtime.close()


def url(aw: Authward) -> str:
    return aw.issuer + "/oauth2/token"


async def post(
    aw: Authward, data: dict[str, str], *, proof: str | list[str] | None = None, **kw: Any
) -> httpx.Response:
    headers = []
    for p in [proof] if isinstance(proof, str) else proof or []:
        headers.append(("DPoP", p))
    async with http(aw) as client:
        return await client.post("/oauth2/token", data=data, headers=headers, **kw)


async def code_form(
    aw: Authward, client: str, user: str, **kw: Any
) -> tuple[dict[str, str], tuple[str, str]]:
    client_id, secret = await credentials(aw, client)
    verifier = new_verifier()
    code = await issue_code(aw, client_id, user, verifier, **kw)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    return form, (client_id, secret)


def error_of(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["error"])


async def test_require_dpop_client_gets_no_unbound_token(aw: Authward) -> None:
    user = await make_user(aw)
    form, auth = await code_form(aw, "dpop-app", user)
    assert error_of(await post(aw, form, auth=auth)) == "invalid_dpop_proof"
    key = DpopKey()
    response = await post(aw, form, auth=auth, proof=key.proof(url(aw)))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert jwt_claims(body["access_token"])["cnf"] == {"jkt": key.jkt}
    # Refreshing needs a proof too (this client is confidential: any key of its will do).
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    assert error_of(await post(aw, refresh, auth=auth)) == "invalid_dpop_proof"
    again = await post(aw, refresh, auth=auth, proof=DpopKey().proof(url(aw)))
    assert again.status_code == 200
    assert again.json()["token_type"] == "DPoP"


async def test_bad_proofs_are_refused(aw: Authward) -> None:
    user = await make_user(aw)
    form, auth = await code_form(aw, "dpop-app", user)
    key = DpopKey()
    other_server = "https://elsewhere.example.com/oauth2/token"
    replayed = key.proof(url(aw))
    assert (await post(aw, form, auth=auth, proof=replayed)).status_code == 200
    form, auth = await code_form(aw, "dpop-app", user)
    for proof in (
        key.proof(url(aw), method="GET"),  # htm
        key.proof(other_server),  # htu
        key.proof(url(aw), iat=1_000_000_000),  # far too old
        replayed,  # jti seen before
        "not-a-jwt",
        [key.proof(url(aw)), key.proof(url(aw))],  # two DPoP headers
    ):
        assert error_of(await post(aw, form, auth=auth, proof=proof)) == "invalid_dpop_proof"
    # None of that burnt the code.
    assert (await post(aw, form, auth=auth, proof=key.proof(url(aw)))).status_code == 200


async def test_public_clients_refresh_token_is_bound_to_its_key(aw: Authward) -> None:
    user = await make_user(aw)
    form, (spa_id, _) = await code_form(aw, "spa", user)
    key = DpopKey()
    response = await post(aw, {**form, "client_id": spa_id}, proof=key.proof(url(aw)))
    assert response.status_code == 200
    tokens = response.json()
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": spa_id,
    }
    assert error_of(await post(aw, refresh)) == "invalid_dpop_proof"
    assert error_of(await post(aw, refresh, proof=DpopKey().proof(url(aw)))) == (
        "invalid_dpop_proof"
    )
    ok = await post(aw, refresh, proof=key.proof(url(aw)))
    assert ok.status_code == 200
    rotated = ok.json()
    # The new refresh token is bound to the same key.
    refresh["refresh_token"] = rotated["refresh_token"]
    assert error_of(await post(aw, refresh, proof=DpopKey().proof(url(aw)))) == (
        "invalid_dpop_proof"
    )
    assert (await post(aw, refresh, proof=key.proof(url(aw)))).status_code == 200


async def test_confidential_client_may_bind_access_tokens_only(aw: Authward) -> None:
    user = await make_user(aw)
    form, auth = await code_form(aw, "web", user)
    key = DpopKey()
    tokens = (await post(aw, form, auth=auth, proof=key.proof(url(aw)))).json()
    assert tokens["token_type"] == "DPoP"
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    plain = await post(aw, refresh, auth=auth)
    assert plain.status_code == 200
    assert plain.json()["token_type"] == "Bearer"
    assert "cnf" not in jwt_claims(plain.json()["access_token"])


async def test_dpop_jkt_of_the_authorization_request_must_match(aw: Authward) -> None:
    user = await make_user(aw)
    key = DpopKey()
    form, auth = await code_form(aw, "web", user, dpop_jkt=key.jkt)
    assert error_of(await post(aw, form, auth=auth)) == "invalid_dpop_proof"
    assert error_of(await post(aw, form, auth=auth, proof=DpopKey().proof(url(aw)))) == (
        "invalid_dpop_proof"
    )
    response = await post(aw, form, auth=auth, proof=key.proof(url(aw)))
    assert response.status_code == 200
    assert jwt_claims(response.json()["access_token"])["cnf"] == {"jkt": key.jkt}


async def test_client_credentials_with_a_proof_is_bound(aw: Authward) -> None:
    machine_id, secret = await credentials(aw, "admin-machine-user")
    key = DpopKey()
    response = await post(
        aw,
        {"grant_type": "client_credentials"},
        auth=(machine_id, secret),
        proof=key.proof(url(aw)),
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "DPoP"
    assert jwt_claims(response.json()["access_token"])["cnf"] == {"jkt": key.jkt}


async def test_server_nonce_when_required(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    aw = await Authward.open(
        oauth_config(example_config),
        settings_for(database_url, dpop_require_nonce=True),
        migrate=True,
    )
    try:
        machine_id, secret = await credentials(aw, "admin-machine-user")
        key = DpopKey()
        form = {"grant_type": "client_credentials"}
        first = await post(aw, form, auth=(machine_id, secret), proof=key.proof(url(aw)))
        assert error_of(first) == "use_dpop_nonce"
        nonce = first.headers["dpop-nonce"]
        retry = await post(
            aw, form, auth=(machine_id, secret), proof=key.proof(url(aw), nonce=nonce)
        )
        assert retry.status_code == 200
    finally:
        await aw.close()
