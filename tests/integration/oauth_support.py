"""What the authorization-server tests share: a config with one client of each kind, a user,
codes issued the way the authorize endpoint issues them, DPoP proofs, and HTTP clients on the
in-process app."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

import httpx
from joserfc import jws
from joserfc.jwk import ECKey

from authward import define_auth, define_config

with warnings.catch_warnings():
    # Authlib's httpx client nags about httpx2 at import (it forces its warnings to "always").
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

try:
    # Authlib's client runs on httpx2 when it is installed (the mcp extra brings it), on httpx
    # otherwise: its transport must come from the same package.
    import httpx2 as authlib_httpx
except ImportError:  # pragma: no cover - without the mcp extra
    authlib_httpx = httpx  # type: ignore[no-redef]
from authward.config import Config
from authward.oauth.grants import CodeGrant
from authward.oauth.pkce import s256_challenge
from authward.runtime import Authward
from authward.server.app import build_app

REDIRECT = "http://127.0.0.1:3000/callback"
ORG = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
TEAM = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")
CLIENTS: dict[str, Any] = {
    # confidential, refresh allowed, short lifetimes of its own
    "web": {
        "redirect_uris": [REDIRECT, "https://web.example.com/cb"],
        "access_token_lifetime_seconds": 600,
        "refresh_token_lifetime_seconds": 3600,
    },
    # a browser app: no secret, PKCE only
    "spa": {"redirect_uris": [REDIRECT], "public": True},
    "dpop-app": {"redirect_uris": [REDIRECT], "require_dpop": True},
    "no-refresh": {"redirect_uris": [REDIRECT], "grant_types": ["authorization_code"]},
}


def oauth_config(
    example: Config, clients: Mapping[str, Any] = CLIENTS, **auth_options: Any
) -> Config:
    """The example app's profile and machine users, with the clients above (or ``clients``);
    ``auth_options``: more arguments of ``define_auth``."""
    base = example.auth
    assert base.user_profile is not None
    user = base.user_profile.type
    auth = define_auth(
        "my-auth",
        user_profile={
            "type": user,
            "username_field": "email",
            "attributes": {"role": True},
            "attribute_list": ["organization_id", "team_id"],
        },
        machine_users={
            mu.name: {
                "attributes": dict(mu.attributes),
                "attribute_list": [str(u) for u in mu.attribute_list],
            }
            for mu in base.machine_users.values()
        },
        oauth2_clients=clients,
        **auth_options,
    )
    return define_config(auth=auth, db=[user])


def authlib_client(
    aw: Authward, client_id: str, secret: str | None, **kw: Any
) -> AsyncOAuth2Client:
    """Authlib's OAuth 2.0 client (an independent implementation) on the in-process app."""
    return AsyncOAuth2Client(
        client_id=client_id,
        client_secret=secret,
        transport=authlib_httpx.ASGITransport(app=build_app(aw)),
        base_url=aw.issuer,
        **kw,
    )


def http(aw: Authward) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(aw)), base_url=aw.issuer)


async def credentials(aw: Authward, name: str) -> tuple[str, str]:
    """``(client_id, client_secret)`` of an OAuth client or a machine user."""
    if name in aw.config.auth.machine_users:
        mu = await aw.machine_users.get(name)
        secret = await aw.machine_users.client_secret(name)
        assert mu is not None
        assert secret is not None
        return mu.client_id, secret.get_secret_value()
    client = await aw.clients.get(name)
    secret = await aw.clients.client_secret(name)
    assert client is not None
    assert secret is not None
    return client.client_id, secret.get_secret_value()


async def make_user(aw: Authward, username: str = "alice@example.com") -> str:
    account = await aw.users.create(
        username, None, profile={"organization_id": ORG, "team_id": TEAM}, email_verified=True
    )
    return account.id


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


async def issue_code(
    aw: Authward,
    client_id: str,
    user_id: str,
    verifier: str,
    *,
    scopes: tuple[str, ...] = ("openid", "profile", "email", "offline_access"),
    redirect_uri: str = REDIRECT,
    nonce: str | None = "n-0S6_WzA2Mj",
    dpop_jkt: str | None = None,
) -> str:
    return await aw.oauth.issue_code(
        CodeGrant(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            user_id=user_id,
            code_challenge=s256_challenge(verifier),
            nonce=nonce,
            auth_time=int(time.time()) - 5,
            session_id="sess-123",
            dpop_jkt=dpop_jkt,
        )
    )


class DpopKey:
    """A client's DPoP key pair (ES256), making proofs as RFC 9449 §4.2 describes."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")
        self.jkt = self.key.thumbprint()

    def proof(
        self,
        url: str,
        method: str = "POST",
        *,
        access_token: str | None = None,
        iat: int | None = None,
        nonce: str | None = None,
    ) -> str:
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(12),
            "htm": method,
            "htu": url,
            "iat": int(time.time()) if iat is None else iat,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode()).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return jws.serialize_compact(header, json.dumps(claims), self.key, algorithms=["ES256"])


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unchecked (for asserting on what was issued)."""
    part = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


def jwt_header(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result
