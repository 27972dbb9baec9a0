"""JWT access tokens, RFC 9068.

§2.1: the header ``typ`` is ``at+jwt``; §2.2: ``iss``, ``exp``, ``aud``, ``sub``, ``client_id``,
``iat`` and ``jti`` are required. §4: a resource server MUST check ``typ``, the issuer, the
audience, the signature with the issuer's keys and the expiry, and MUST refuse ``none``.

Attributes travel in the platform's naming (the seed's "SDK vs Platform naming"): the map as
``attribute_map``, the ordered UUID list as ``attributes``.
"""

from __future__ import annotations

__all__ = ["REQUIRED", "TYP", "AccessTokenClaims", "sign_access_token", "verify_access_jwt"]

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from authward.tokens.jws_verify import Compact, VerifyKey
from authward.tokens.jwt import sign_jwt, verify_jwt
from authward.tokens.keys import SigningKey

TYP = "at+jwt"
REQUIRED = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    issuer: str
    subject: str
    audience: str
    client_id: str
    issued_at: int
    expires_at: int
    attribute_map: Mapping[str, Any]
    attributes: Sequence[str]
    scope: str | None = None
    #: RFC 9449 §6: the thumbprint of the DPoP key the token is bound to (``cnf.jkt``).
    cnf_jkt: str | None = None

    def to_jwt_claims(self, jti: str | None = None) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience,
            "exp": self.expires_at,
            "iat": self.issued_at,
            "jti": jti or secrets.token_urlsafe(16),
            "client_id": self.client_id,
            "attribute_map": dict(self.attribute_map),
            "attributes": list(self.attributes),
        }
        if self.scope:
            claims["scope"] = self.scope
        if self.cnf_jkt:
            claims["cnf"] = {"jkt": self.cnf_jkt}
        return claims


def sign_access_token(key: SigningKey, claims: Mapping[str, Any]) -> str:
    return sign_jwt(key, claims, typ=TYP)


def verify_access_jwt(compact: Compact, keys: Mapping[str, VerifyKey]) -> dict[str, Any]:
    """Check the signature and ``typ``; return the claims (not yet checked)."""
    return verify_jwt(compact, keys, typ=TYP, kind="an access token")
