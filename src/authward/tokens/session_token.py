"""Session tokens: the short-lived JWT a browser session re-mints every minute (Clerk style).

Header ``typ: JWT`` (not ``at+jwt``: it is not an OAuth access token), signed with the instance's
signing key like access tokens. Claims: ``iss``, ``aud`` (as access tokens), ``sub`` (the user
id), ``sid`` (the session id), ``iat``, ``exp``; ``org_id``, ``org_role`` and
``org_permissions`` when the session has an active organization the user belongs to; and the
session's custom claims, at the top level.
"""

from __future__ import annotations

__all__ = ["REQUIRED", "RESERVED_CLAIMS", "TYP", "check_session_ids", "sign_session_token"]

from collections.abc import Mapping
from typing import Any

from authward.errors import TokenError
from authward.tokens.jwt import sign_jwt
from authward.tokens.keys import SigningKey

TYP = "JWT"
REQUIRED = ("iss", "aud", "sub", "sid", "iat", "exp")
#: Claims a session's custom claims may not use: registered JWT claims and ours.
RESERVED_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "azp",
        "sid",
        "client_id",
        "scope",
        "cnf",
        "act",
        "org_id",
        "org_role",
        "org_permissions",
        "org_slug",
    }
)


def sign_session_token(key: SigningKey, claims: Mapping[str, Any]) -> str:
    return sign_jwt(key, claims, typ=TYP)


def check_session_ids(claims: Mapping[str, Any]) -> None:
    """Beyond the registered claims: the user and the session are named by strings."""
    if not isinstance(claims["sub"], str) or not isinstance(claims["sid"], str):
        raise TokenError("token-invalid", "sub and sid must be strings")
