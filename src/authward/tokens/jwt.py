"""What every JWT this issuer signs has in common: signing with a ``typ``, checking the
signature and ``typ``, and the registered claims (RFC 7519 §4.1) with a leeway."""

from __future__ import annotations

__all__ = ["check_registered_claims", "sign_jwt", "verify_jwt"]

import functools
import json
from collections.abc import Mapping
from typing import Any

from joserfc import jws

from authward.errors import TokenError
from authward.tokens.jws_verify import Compact, VerifyKey, verify_compact
from authward.tokens.keys import SigningKey


def sign_jwt(key: SigningKey, claims: Mapping[str, Any], *, typ: str) -> str:
    header = {"alg": key.alg, "kid": key.kid, "typ": typ}
    payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return jws.serialize_compact(header, payload, key.key, algorithms=[key.alg])


def verify_jwt(
    compact: Compact, keys: Mapping[str, VerifyKey], *, typ: str, kind: str
) -> dict[str, Any]:
    """Check the signature and that ``typ`` says ``kind``; return the claims (not yet checked).

    Explicit typing (RFC 8725 §3.11) keeps one kind of our tokens from passing as another.
    """
    claims = verify_compact(compact, keys)
    if compact.header.get("typ") != typ:
        raise TokenError("token-invalid", f"not {kind} (typ must be {typ})")
    return claims


@functools.cache
def _as_set(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(names)


def check_registered_claims(
    claims: Mapping[str, Any],
    *,
    required: tuple[str, ...],
    issuer: str,
    audience: str | frozenset[str],
    now: float,
    leeway: int,
) -> None:
    """``audience``: the one audience the token must name, or the set it must name one of."""
    if not claims.keys() >= _as_set(required):
        missing = [c for c in required if c not in claims]
        raise TokenError("token-invalid", f"token lacks required claims: {', '.join(missing)}")
    if claims["iss"] != issuer:
        # Both names, so a client and a server that disagree on the issuer can tell (they are
        # URLs, never secrets; this token's signature has been checked already).
        raise TokenError(
            "token-invalid-issuer",
            f"token was issued by {str(claims['iss'])[:200]!r}, this server is {issuer!r}",
        )
    aud = claims["aud"]
    if not _aimed_at(aud, audience):
        raise TokenError("token-invalid-audience", "token is not meant for this audience")
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise TokenError("token-invalid", "exp and iat must be numbers")
    if now >= exp + leeway:
        raise TokenError("token-expired", "token has expired")
    if iat > now + leeway:
        raise TokenError("token-not-active-yet", "token was issued in the future")
    # RFC 7519 §4.1.5: optional, but when present it holds, with the leeway exp has.
    if "nbf" in claims:
        nbf = claims["nbf"]
        if not isinstance(nbf, int | float) or isinstance(nbf, bool):
            raise TokenError("token-invalid", "nbf must be a number")
        if nbf > now + leeway:
            raise TokenError("token-not-active-yet", "token is not valid yet (nbf)")


def _aimed_at(aud: object, audience: str | frozenset[str]) -> bool:
    if isinstance(audience, str):
        return aud == audience or (isinstance(aud, list) and audience in aud)
    if isinstance(aud, str):
        return aud in audience
    return isinstance(aud, list) and any(isinstance(a, str) and a in audience for a in aud)
