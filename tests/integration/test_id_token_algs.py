"""ID tokens in each client's ``id_token_signed_response_alg`` (RS256 by default, as OpenID
Connect requires), verified by PyJWT from the published JWKS, on SQLite and PostgreSQL; access
tokens keep the server's algorithm; rotation; and the config field, checked when the app loads.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from alembic import command
from sqlalchemy import select, update

from authward import db, define_auth
from authward.config import Config
from authward.errors import ConfigError, TokenError
from authward.runtime import Authward
from authward.store.migrate import _alembic_config
from authward.store.schema import signing_keys
from tests.conftest import SettingsFactory
from tests.integration.oauth_support import (
    CLIENTS,
    REDIRECT,
    authlib_client,
    credentials,
    http,
    issue_code,
    jwt_header,
    make_user,
    new_verifier,
    oauth_config,
)

ALG_CLIENTS: dict[str, Any] = {
    **CLIENTS,
    "es-app": {"redirect_uris": [REDIRECT], "id_token_signed_response_alg": "ES256"},
    "ed-app": {"redirect_uris": [REDIRECT], "id_token_signed_response_alg": "EdDSA"},
}
#: Client -> the algorithm its ID tokens must have ("web" sets none: the default).
EXPECTED = {"web": "RS256", "es-app": "ES256", "ed-app": "EdDSA"}
_HASHES = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "EdDSA": hashlib.sha512}


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    runtime = await Authward.open(
        oauth_config(example_config, ALG_CLIENTS), settings_for(database_url), migrate=True
    )
    yield runtime
    await runtime.close()


async def code_flow(aw: Authward, client: str, user: str) -> dict[str, Any]:
    """The token response of a code flow redeemed by Authlib's client."""
    client_id, secret = await credentials(aw, client)
    verifier = new_verifier()
    code = await issue_code(aw, client_id, user, verifier)
    async with authlib_client(aw, client_id, secret, redirect_uri=REDIRECT) as oc:
        token: dict[str, Any] = await oc.fetch_token(
            aw.issuer + "/oauth2/token",
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
        )
    return token


async def published(aw: Authward) -> dict[str, Any]:
    async with http(aw) as c:
        response = await c.get("/.well-known/jwks.json")
    assert response.status_code == 200
    jwks: dict[str, Any] = response.json()
    return jwks


def verified(id_token: str, jwks: dict[str, Any], alg: str, audience: str) -> dict[str, Any]:
    """PyJWT's check of an ID token with the key its ``kid`` names in ``jwks``, ``alg`` only."""
    key = jwt.PyJWKSet.from_dict(jwks)[jwt_header(id_token)["kid"]]
    claims: dict[str, Any] = jwt.decode(id_token, key=key, algorithms=[alg], audience=audience)
    return claims


@pytest.mark.parametrize("client", list(EXPECTED))
async def test_each_client_gets_id_tokens_in_its_algorithm(aw: Authward, client: str) -> None:
    alg = EXPECTED[client]
    user = await make_user(aw)
    token = await code_flow(aw, client, user)
    jwks = await published(aw)
    client_id, _ = await credentials(aw, client)

    header = jwt_header(token["id_token"])
    assert (header["alg"], header["typ"]) == (alg, "JWT")
    claims = verified(token["id_token"], jwks, alg, client_id)
    assert (claims["iss"], claims["sub"], claims["aud"]) == (aw.issuer, user, client_id)
    # OIDC Core §3.1.3.6: the hash of the ID token's algorithm, not the access token's.
    digest = _HASHES[alg](token["access_token"].encode()).digest()
    half = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
    assert claims["at_hash"] == half
    # A relying party told to expect another algorithm refuses it.
    with pytest.raises(jwt.InvalidAlgorithmError):
        verified(token["id_token"], jwks, "HS256", client_id)

    # Access tokens keep the server's algorithm, and an ID token is no access token.
    assert jwt_header(token["access_token"])["alg"] == aw.settings.signing_alg == "EdDSA"
    assert (await aw.verify_access_token(token["access_token"])).subject == user
    with pytest.raises(TokenError, match="not an access token"):
        await aw.verify_access_token(token["id_token"])


async def test_discovery_and_jwks_list_one_current_key_per_algorithm(aw: Authward) -> None:
    async with http(aw) as c:
        discovery = (await c.get("/.well-known/openid-configuration")).json()
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]
    keys = (await published(aw))["keys"]
    assert sorted(k["alg"] for k in keys) == ["ES256", "EdDSA", "RS256"]
    rsa = next(k for k in keys if k["alg"] == "RS256")
    assert (rsa["kty"], rsa["use"]) == ("RSA", "sig")
    assert len(base64.urlsafe_b64decode(rsa["n"] + "==")) * 8 >= 2048
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(rsa)
    # Sealed at rest like the other keys: no PEM in the store.
    async with aw.engine.connect() as conn:
        stored = (
            await conn.execute(
                select(signing_keys.c.private_key).where(signing_keys.c.kid == rsa["kid"])
            )
        ).scalar_one()
    assert b"PRIVATE KEY" not in stored


async def test_rotation_keeps_old_id_tokens_verifiable_and_new_ones_use_new_keys(
    aw: Authward,
) -> None:
    user = await make_user(aw)
    before = {client: await code_flow(aw, client, user) for client in EXPECTED}
    rotated = await aw.rotate_keys()
    # The access-token key first (the setting's algorithm), then one per other ID-token alg.
    assert [k.alg for k in rotated] == ["EdDSA", "ES256", "RS256"]
    new_kids = {k.alg: k.kid for k in rotated}
    after = {client: await code_flow(aw, client, user) for client in EXPECTED}
    jwks = await published(aw)
    for client, alg in EXPECTED.items():
        client_id, _ = await credentials(aw, client)
        old_kid = jwt_header(before[client]["id_token"])["kid"]
        assert jwt_header(after[client]["id_token"])["kid"] == new_kids[alg] != old_kid
        verified(before[client]["id_token"], jwks, alg, client_id)
        verified(after[client]["id_token"], jwks, alg, client_id)
    assert jwt_header(after["web"]["access_token"])["kid"] == new_kids["EdDSA"]


async def test_a_missing_id_token_key_is_made_when_first_needed(aw: Authward) -> None:
    """Another app's rotation may leave no current key of this client's algorithm."""
    user = await make_user(aw)
    old_kid = jwt_header((await code_flow(aw, "web", user))["id_token"])["kid"]
    now = datetime.now(UTC)
    async with aw.engine.begin() as conn:
        await conn.execute(
            update(signing_keys)
            .where(signing_keys.c.alg == "RS256")
            .values(retired_at=now, publish_until=now + timedelta(hours=1))
        )
    # A hand-made change is not counted (store/changes.py): read everything.
    aw.verifier.views.reset()
    aw.verifier.invalidate()
    token = await code_flow(aw, "web", user)
    header = jwt_header(token["id_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] != old_kid
    client_id, _ = await credentials(aw, "web")
    verified(token["id_token"], await published(aw), "RS256", client_id)


async def test_a_store_from_before_per_algorithm_keys_keeps_its_access_key(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    """Upgrading: the one key of a store made before migration 0014 keeps signing access tokens
    (and its old tokens verify); the next sync adds the RS256 key for ID tokens."""
    settings = settings_for(database_url)
    config = oauth_config(example_config, ALG_CLIENTS)
    aw = await Authward.open(config, settings, migrate=True)
    old_token = await aw.machine_user_token("admin-machine-user")
    old_kid = jwt_header(old_token)["kid"]
    async with aw.engine.begin() as conn:
        await conn.execute(signing_keys.delete().where(signing_keys.c.kid != old_kid))
        await conn.run_sync(lambda c: command.downgrade(_alembic_config(c), "0013"))
    await aw.close()

    aw = await Authward.open(config, settings, migrate=True)
    try:
        assert jwt_header(await aw.machine_user_token("admin-machine-user"))["kid"] == old_kid
        await aw.verify_access_token(old_token)
        keys = {k["alg"]: k["kid"] for k in (await published(aw))["keys"]}
        assert keys.keys() == {"EdDSA", "ES256", "RS256"}
        assert keys["EdDSA"] == old_kid
        user = await make_user(aw)
        assert jwt_header((await code_flow(aw, "web", user))["id_token"])["kid"] == keys["RS256"]
    finally:
        await aw.close()


@pytest.mark.parametrize("alg", ["HS256", "none", "RS512", None])
def test_an_unsupported_id_token_alg_is_refused_when_the_app_loads(alg: object) -> None:
    user = db.type("User", {"email": db.string().unique()})
    with pytest.raises(ConfigError) as caught:
        define_auth(
            "a",
            user_profile={"type": user, "username_field": "email"},
            oauth2_clients={
                "x": {"redirect_uris": [REDIRECT], "id_token_signed_response_alg": alg}  # type: ignore[typeddict-item]
            },
        )
    message = str(caught.value)
    assert "oauth2_clients['x'].id_token_signed_response_alg" in message
    assert "RS256, ES256, EdDSA" in message
