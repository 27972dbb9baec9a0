"""Session tokens: the short-lived JWT a browser session re-mints every minute (Clerk style).

Header ``typ: JWT`` (not ``at+jwt``: it is not an OAuth access token), signed with the instance's
signing key like access tokens. Claims: ``iss``, ``aud`` (as access tokens), ``sub`` (the user
id), ``sid`` (the session id), ``iat``, ``exp``; ``org_id``, ``org_role`` and
``org_permissions`` when the session has an active organization the user belongs to; and the
session's custom claims, at the top level.
"""

from __future__ import annotations

__all__ = [
    "RESERVED_CLAIMS",
    "TYP",
    "check_session_claims",
    "sign_session_token",
    "verify_session_jwt",
]

import json
from collections.abc import Mapping
from typing import Any

from joserfc import jws

from authward.errors import TokenError
from authward.tokens.jws_verify import Compact, VerifyKey, verify_compact
from authward.tokens.keys import SigningKey

TYP = "JWT"
_REQUIRED = ("iss", "aud", "sub", "sid", "iat", "exp")
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
    header = {"alg": key.alg, "kid": key.kid, "typ": TYP}
    payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return jws.serialize_compact(header, payload, key.key, algorithms=[key.alg])


def verify_session_jwt(compact: Compact, keys: Mapping[str, VerifyKey]) -> dict[str, Any]:
    """Check the signature and ``typ``; return the claims (not yet checked)."""
    claims = verify_compact(compact, keys)
    if compact.header.get("typ") != TYP:
        raise TokenError("token-invalid", "not a session token (typ must be JWT)")
    return claims


def check_session_claims(
    claims: Mapping[str, Any], *, issuer: str, audience: str, now: float, leeway: int
) -> None:
    missing = [c for c in _REQUIRED if c not in claims]
    if missing:
        raise TokenError("token-invalid", f"token lacks required claims: {', '.join(missing)}")
    if claims["iss"] != issuer:
        raise TokenError("token-invalid-issuer", "token was issued by another issuer")
    aud = claims["aud"]
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise TokenError("token-invalid-audience", "token is not meant for this audience")
    if not isinstance(claims["sub"], str) or not isinstance(claims["sid"], str):
        raise TokenError("token-invalid", "sub and sid must be strings")
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise TokenError("token-invalid", "exp and iat must be numbers")
    if now >= exp + leeway:
        raise TokenError("token-expired", "token has expired")
    if iat > now + leeway:
        raise TokenError("token-not-active-yet", "token was issued in the future")
