"""Token introspection, RFC 7662.

§2.1: the caller must be authorized; here, any authenticated confidential client (OAuth client
or machine user, typically a resource server). §2.2: anything not currently usable (malformed,
expired, revoked, another issuer's, or a refresh token of another client) is just
``{"active": false}``, never an error that would tell why.
"""

from __future__ import annotations

__all__ = ["INACTIVE", "access_token_info", "refresh_token_info"]

from collections.abc import Mapping
from typing import Any

from authward.store.grants import GrantRow

INACTIVE: dict[str, Any] = {"active": False}


def access_token_info(claims: Mapping[str, Any]) -> dict[str, Any]:
    """§2.2 for a verified access token."""
    info: dict[str, Any] = {
        "active": True,
        "iss": claims["iss"],
        "sub": claims["sub"],
        "aud": claims["aud"],
        "client_id": claims["client_id"],
        "exp": claims["exp"],
        "iat": claims["iat"],
        "jti": claims["jti"],
        "token_type": "DPoP" if "cnf" in claims else "Bearer",
    }
    if claims.get("scope"):
        info["scope"] = claims["scope"]
    if "cnf" in claims:
        info["cnf"] = claims["cnf"]
    return info


def refresh_token_info(row: GrantRow, *, issuer: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "active": True,
        "iss": issuer,
        "sub": row.subject,
        "client_id": row.client_id,
        "exp": int(row.expires_at.timestamp()),
        "iat": int(row.created_at.timestamp()),
        "scope": " ".join(row.data["scopes"]),
        "token_type": "refresh_token",
    }
    if row.data.get("jkt"):
        info["cnf"] = {"jkt": row.data["jkt"]}
    if row.data.get("resource"):
        info["aud"] = row.data["resource"]  # RFC 8707: what its access tokens are for
    return info
