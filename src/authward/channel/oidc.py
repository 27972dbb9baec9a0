"""``oidc(issuer, audience=...)``: accept the JWTs of an external OpenID Connect issuer.

    app = AuthMiddleware(app, auth=[
        oidc("https://login.example.com", audience="https://api.example.com"),
        authward_tokens(tokens=aw.verifier),
    ])

Routing is by shape before any cryptography: a bearer token that is a compact JWT whose
(unverified) ``iss`` is exactly ``issuer`` is *ours*; anything else (another issuer, an API key,
an opaque token, a cookie) falls through to the next entry. A token of ours is then verified and
either accepted or refused with 401 ``invalid_token`` and a short reason:

- the header: ``typ`` absent, ``JWT`` or ``at+jwt`` (access tokens, RFC 9068, and ID-token-shaped
  JWTs; any other type, e.g. ``logout+jwt``, is refused); ``alg`` in the allow-list; a ``kid``;
- the signature, with the issuer's key of that ``kid``, bound to the algorithm it was published
  for (``tokens/jws_verify.py``: never ``none``, never HMAC, RSA keys of at least 2048 bits);
- the claims: ``iss``, ``sub``, ``aud`` (one of ``audience``), ``exp``, and ``nbf`` / ``iat`` when
  present, with ``leeway`` seconds; a DPoP-bound token (``cnf``) presented as Bearer is refused.

Keys come from OpenID Connect Discovery: ``{issuer}/.well-known/openid-configuration`` (its
``issuer`` must equal ours exactly, §4.3) names the ``jwks_uri``. The JWKS is cached in memory,
re-fetched when older than ``jwks_refresh_seconds`` and on an unknown ``kid``, but never more often
than once per ``min_refetch_interval``. When the issuer cannot be reached and no keys were ever
fetched, :class:`IssuerUnavailable` is raised: the chain logs it and answers 500 (our failure, not
the client's). Once keys were fetched, a failed refresh keeps them and logs a warning.

See docs/channel.md and docs/decisions/007-external-oidc-issuers.md.
"""

from __future__ import annotations

__all__ = ["DEFAULT_ALGORITHMS", "OidcAuth", "oidc"]

import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

import httpx
from starlette.requests import HTTPConnection

from authward.channel.chain import AuthFn
from authward.channel.credentials import read_credential
from authward.errors import ConfigError, TokenError, UnauthenticatedError
from authward.oauth.issuer_keys import IssuerKeys, check_url
from authward.principal import Principal
from authward.tokens.jws_verify import (
    SUPPORTED_ALGS,
    b64url_decode,
    parse_compact,
    verify_compact,
)

log = logging.getLogger("authward.channel.oidc")

DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA", "PS256")
#: ``typ`` values accepted (RFC 7515 §4.1.9: compared without ``application/``, any case).
_TYPS = frozenset({"jwt", "at+jwt"})


@dataclass(frozen=True, slots=True)
class OidcAuth:
    """A verified JWT of an external issuer, before it becomes a Principal."""

    issuer: str
    subject: str
    #: ``client_id`` (RFC 9068), else ``azp``; ``None`` when the token names neither.
    client_id: str | None
    scopes: tuple[str, ...]
    #: The token was issued to a client for itself (client credentials), not for a user.
    is_machine: bool
    claims: Mapping[str, Any] = field(repr=False)
    token_type: Literal["oauth_token"] = "oauth_token"

    def to_principal(self) -> Principal:
        attributes: dict[str, Any] = {"tokenType": self.token_type, "scopes": self.scopes}
        if self.client_id is not None:
            attributes["clientId"] = self.client_id
        return Principal(
            authenticator=f"oidc:{self.issuer}",
            principal_type="machine" if self.is_machine else "user",
            principal_id=self.subject,
            subject=self.subject,
            attributes=attributes,
        )


def _refuse(message: str) -> UnauthenticatedError:
    return UnauthenticatedError(code="invalid_token", message=message)


# -- configuration ---------------------------------------------------------------------------------


def _check_algorithms(algorithms: Sequence[str]) -> frozenset[str]:
    if isinstance(algorithms, str):
        raise ConfigError("must be a list of algorithms, not one string", path="algorithms")
    allowed: set[str] = set()
    for alg in algorithms:
        if not isinstance(alg, str):
            raise ConfigError(f"{alg!r} is not an algorithm name", path="algorithms")
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            raise ConfigError(
                f"{alg!r} is never accepted from an external issuer (unsigned, or signed with a "
                "shared secret)",
                path="algorithms",
            )
        if alg not in SUPPORTED_ALGS:
            raise ConfigError(
                f"unknown algorithm {alg!r} (supported: {', '.join(sorted(SUPPORTED_ALGS))})",
                path="algorithms",
            )
        allowed.add(alg)
    if not allowed:
        raise ConfigError("allow at least one algorithm", path="algorithms")
    return frozenset(allowed)


def _check_audience(audience: str | Sequence[str]) -> tuple[str, ...]:
    values = (audience,) if isinstance(audience, str) else tuple(audience)
    if not values or not all(isinstance(a, str) and a for a in values):
        raise ConfigError("must be one audience or a list of them, none empty", path="audience")
    return values


# -- tokens ----------------------------------------------------------------------------------------


def _unverified_payload(payload: str) -> dict[str, Any] | None:
    try:
        claims = json.loads(b64url_decode(payload).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audiences: tuple[str, ...],
    now: float,
    leeway: int,
) -> None:
    if claims.get("iss") != issuer:
        raise _refuse("token was issued by another issuer")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise _refuse("token has no subject")
    aud = claims.get("aud")
    granted = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(a in granted for a in audiences):
        raise _refuse("token is not meant for this audience")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_number(exp):
        raise _refuse("token has no valid expiry")
    # Present means checked: a null nbf is not a number either (RFC 7519 §4.1.5).
    nbf = claims.get("nbf", 0)
    if not _is_number(nbf) or (iat is not None and not _is_number(iat)):
        raise _refuse("nbf and iat must be numbers")
    if now >= exp + leeway:
        raise _refuse("token has expired")
    if nbf > now + leeway:
        raise _refuse("token is not valid yet")
    if iat is not None and iat > now + leeway:
        raise _refuse("token was issued in the future")


def _scopes(claims: Mapping[str, Any]) -> tuple[str, ...]:
    scope = claims.get("scope", claims.get("scp"))
    if isinstance(scope, str):
        return tuple(scope.split())
    if isinstance(scope, list):
        return tuple(s for s in scope if isinstance(s, str))
    return ()


def _auth(issuer: str, claims: Mapping[str, Any]) -> OidcAuth:
    client_id = next(
        (v for v in (claims.get("client_id"), claims.get("azp")) if isinstance(v, str) and v),
        None,
    )
    subject = str(claims["sub"])
    # A client acting for itself: the client-credentials markers issuers use.
    is_machine = (
        claims.get("gty") == "client-credentials"  # Auth0
        or claims.get("idtyp") == "app"  # Microsoft Entra ID
        or (client_id is not None and subject == client_id)  # RFC 9068 §2.2, most issuers
    )
    return OidcAuth(
        issuer=issuer,
        subject=subject,
        client_id=client_id,
        scopes=_scopes(claims),
        is_machine=is_machine,
        claims=claims,
    )


def oidc(
    issuer: str,
    *,
    audience: str | Sequence[str],
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    to_principal: Callable[[OidcAuth], Principal | None] | None = None,
    leeway: int = 30,
    jwks_refresh_seconds: float = 300,
    min_refetch_interval: float = 30,
    http: httpx.AsyncClient | None = None,
) -> AuthFn:
    """Accept JWTs of the OpenID Connect issuer ``issuer`` meant for ``audience``.

    ``issuer`` is compared exactly with the token's ``iss`` and the discovery document's
    ``issuer`` (mind a trailing ``/``). ``algorithms`` is the allow-list (``none`` and ``HS*`` are
    refused when the entry is built). ``to_principal`` maps the verified :class:`OidcAuth` to a
    Principal (``None`` falls through); the default is ``OidcAuth.to_principal``. ``http`` is the
    client for discovery and JWKS (its timeouts apply); by default a short-lived one per fetch.
    """
    issuer = check_url(issuer, "issuer")
    audiences = _check_audience(audience)
    allowed = _check_algorithms(algorithms)
    if isinstance(leeway, bool) or not isinstance(leeway, int) or leeway < 0:
        raise ConfigError("must be a whole number of seconds, 0 or more", path="leeway")
    if not jwks_refresh_seconds > 0:
        raise ConfigError("must be more than 0 seconds", path="jwks_refresh_seconds")
    if not min_refetch_interval >= 0:
        raise ConfigError("must be 0 seconds or more", path="min_refetch_interval")
    keys = IssuerKeys(
        issuer,
        algorithms=allowed,
        refresh_seconds=jwks_refresh_seconds,
        min_refetch_interval=min_refetch_interval,
        http=http,
    )

    async def oidc_entry(request: HTTPConnection) -> Principal | None:
        credential = read_credential(request.scope["headers"], session_cookie=None)
        if credential is None:
            return None
        try:
            compact = parse_compact(credential.token)
        except TokenError:
            return None  # not a JWT: an API key, an opaque token...
        unverified = _unverified_payload(compact.payload)
        if unverified is None or unverified.get("iss") != issuer:
            return None  # another issuer's: the next entry may take it
        if credential.scheme != "bearer":
            raise _refuse("DPoP proofs are not supported yet")
        header = compact.header
        typ = header.get("typ")
        if typ is not None and (
            not isinstance(typ, str) or typ.lower().removeprefix("application/") not in _TYPS
        ):
            raise _refuse("token type is not accepted (typ must be JWT or at+jwt)")
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in allowed:
            raise _refuse("token's alg is not allowed")
        if not isinstance(kid, str):
            raise _refuse("token has no kid")
        key = await keys.key(kid, alg)
        try:
            claims = verify_compact(compact, {kid: key})
        except TokenError as exc:
            raise _refuse(str(exc)) from None
        _check_claims(claims, issuer=issuer, audiences=audiences, now=time.time(), leeway=leeway)
        if "cnf" in claims:
            # RFC 9449 §7.1: a DPoP-bound token presented as a Bearer token is refused.
            raise _refuse("a DPoP-bound token needs DPoP")
        auth = _auth(issuer, claims)
        return to_principal(auth) if to_principal is not None else auth.to_principal()

    oidc_entry.__qualname__ = f"oidc[{issuer}]"
    return oidc_entry
