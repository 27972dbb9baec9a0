"""ID tokens, OpenID Connect Core 1.0 §2 and §3.1.3.6, and the claims scopes release (§5.4).

Signed with the client's ``id_token_signed_response_alg`` (RS256 by default, decision 034),
``typ: JWT`` (never ``at+jwt``, so an ID token cannot pass as an access token). §3.1.3.6:
``at_hash`` is the left half of the access token's hash, with the hash of the ID token's
algorithm: SHA-256 for RS256 and ES256, SHA-512 for EdDSA over Ed25519.
"""

from __future__ import annotations

__all__ = [
    "CLAIMS_SUPPORTED",
    "RESERVED",
    "IdTokenInput",
    "at_hash",
    "id_token_claims",
    "scoped_claims",
]

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_EMAIL_CLAIMS = ("email", "email_verified")
CLAIMS_SUPPORTED: tuple[str, ...] = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    "azp",
    "preferred_username",
    *_EMAIL_CLAIMS,
    "attribute_map",
    "attributes",
)
#: Profile fields that would shadow a claim with another meaning are not released as such.
RESERVED = frozenset(
    (*CLAIMS_SUPPORTED, "id", "jti", "nbf", "cnf", "acr", "amr", "client_id", "scope", "profile")
)
_HASHES = {"EdDSA": hashlib.sha512, "ES256": hashlib.sha256, "RS256": hashlib.sha256}


def at_hash(access_token: str, alg: str) -> str:
    digest = _HASHES[alg](access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def scoped_claims(
    scopes: tuple[str, ...],
    *,
    username: str,
    profile: Mapping[str, Any],
    email: str | None,
    email_verified: bool,
) -> dict[str, Any]:
    """§5.4: ``profile`` releases the user name and the profile record's fields (each as a claim
    of its own name, except :data:`RESERVED` ones); ``email`` releases the address."""
    out: dict[str, Any] = {}
    if "profile" in scopes:
        out.update((k, v) for k, v in profile.items() if k not in RESERVED and v is not None)
        out["preferred_username"] = username
    if "email" in scopes and email is not None:
        out["email"] = email
        out["email_verified"] = email_verified
    return out


@dataclass(frozen=True, slots=True)
class IdTokenInput:
    issuer: str
    subject: str
    client_id: str
    issued_at: int
    expires_at: int
    auth_time: int
    nonce: str | None
    session_id: str | None
    access_token: str
    alg: str


def id_token_claims(given: IdTokenInput, user_claims: Mapping[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = {
        **user_claims,
        "iss": given.issuer,
        "sub": given.subject,
        "aud": given.client_id,
        "azp": given.client_id,
        "exp": given.expires_at,
        "iat": given.issued_at,
        "auth_time": given.auth_time,
        "at_hash": at_hash(given.access_token, given.alg),
    }
    if given.nonce is not None:
        claims["nonce"] = given.nonce
    if given.session_id is not None:
        claims["sid"] = given.session_id
    return claims
