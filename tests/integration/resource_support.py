"""What the resource-indicator tests share (RFC 8707, RFC 9728): an app declaring two resource
servers, a public client, a confidential one and a machine user."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authward import db, define_auth, define_config
from authward.config import Config
from authward.runtime import Authward
from authward.tokens.access_token import AccessTokenClaims, sign_access_token

REDIRECT = "https://client.example/cb"
REPORTS = "https://reports.example.com/api"
RESOURCES: dict[str, Any] = {
    # on the issuer's own origin, so it follows the port the server runs on
    "mcp": {"url": "/mcp", "scopes": ["tools:read", "tools:admin"], "resource_name": "Tools"},
    "reports": {
        "url": REPORTS,
        "scopes": ["reports:read"],
        "require_dpop": True,
        "access_token_lifetime_seconds": 300,
    },
}


def resource_config() -> Config:
    user = db.type("User", {"email": db.string().unique()})
    auth = define_auth(
        "resource-auth",
        user_profile={"type": user, "username_field": "email"},
        machine_users={"robot": {}},
        oauth2_clients={
            "agent": {"redirect_uris": [REDIRECT], "public": True},
            "web": {"redirect_uris": [REDIRECT]},
        },
        resource_servers=RESOURCES,
    )
    return define_config(auth=auth, db=[user])


def mcp_url(aw: Authward) -> str:
    return aw.issuer + "/mcp"


def query_pairs(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


async def signed_token(aw: Authward, **changes: Any) -> str:
    """An access token signed with this server's current key, with ``changes`` to the claims
    a machine user's token has (``audience``, ``expires_at``...)."""
    mu = await aw.machine_users.get("robot")
    assert mu is not None
    now = int(time.time())
    fields: dict[str, Any] = {
        "issuer": aw.issuer,
        "subject": str(mu.id),
        "audience": mcp_url(aw),
        "client_id": mu.client_id,
        "issued_at": now,
        "expires_at": now + 600,
        "attribute_map": {},
        "attributes": [],
        **changes,
    }
    return sign_access_token(
        await aw.signing_keys.signer(), AccessTokenClaims(**fields).to_jwt_claims()
    )
