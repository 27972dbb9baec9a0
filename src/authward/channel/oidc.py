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

__all__ = ["DEFAULT_ALGORITHMS", "IssuerUnavailable", "OidcAuth", "oidc"]

import asyncio
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard
from urllib.parse import urlsplit

import httpx
from starlette.requests import HTTPConnection

from authward.channel.chain import AuthFn
from authward.channel.credentials import read_credential
from authward.errors import AuthwardError, ConfigError, TokenError, UnauthenticatedError
from authward.principal import Principal
from authward.tokens.jws_verify import (
    SUPPORTED_ALGS,
    VerifyKey,
    b64url_decode,
    jwk_algorithms,
    parse_compact,
    verify_compact,
    verify_key_from_jwk,
)

log = logging.getLogger("authward.channel.oidc")

DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA", "PS256")
#: ``typ`` values accepted (RFC 7515 §4.1.9: compared without ``application/``, any case).
_TYPS = frozenset({"jwt", "at+jwt"})
#: Plain http is allowed only for an issuer on this machine (development, tests).
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
#: Discovery documents and JWKS are small; anything larger is not one.
_MAX_DOCUMENT_BYTES = 512 * 1024
_TIMEOUT = httpx.Timeout(5.0)
#: The clock of the JWKS cache (replaced in tests to step over intervals without sleeping).
_monotonic = time.monotonic


class IssuerUnavailable(AuthwardError):
    """Discovery or the JWKS of a configured issuer could not be fetched or used.

    The server's problem, not the client's: the chain logs it and answers 500 without details.
    """

    code = "issuer_unavailable"


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


def _check_url(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("must be a non-empty URL", path=path)
    parts = urlsplit(value)
    if parts.query or parts.fragment or not parts.hostname:
        raise ConfigError(f"{value!r} must be a URL without query or fragment", path=path)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise ConfigError(f"{value!r} must use https (http only on localhost)", path=path)
    return value


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


# -- discovery and keys ----------------------------------------------------------------------------


class _IssuerKeys:
    """The issuer's verification keys: discovered, fetched, cached and re-fetched (rarely)."""

    def __init__(
        self,
        issuer: str,
        *,
        algorithms: frozenset[str],
        refresh_seconds: float,
        min_refetch_interval: float,
        http: httpx.AsyncClient | None,
    ) -> None:
        self.issuer = issuer
        # OIDC Discovery §4: a terminating "/" is removed before appending the well-known path.
        self._discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self._algorithms = algorithms
        self._refresh = refresh_seconds
        self._min_refetch = min_refetch_interval
        self._http = http
        self._jwks_uri: str | None = None
        #: (kid, alg) -> key: a JWK without ``alg`` gives one entry per algorithm its type allows.
        self._keys: dict[tuple[str, str], VerifyKey] = {}
        #: every signing kid of the last JWKS, usable or not
        self._known: frozenset[str] = frozenset()
        #: kids whose key material was refused (too small, malformed), with the reason
        self._refused: dict[str, str] = {}
        self._loaded_at: float | None = None
        self._attempted_at = float("-inf")
        #: fetch attempts that have finished, successfully or not
        self._completed = 0
        self._failure: IssuerUnavailable | None = None
        self._lock = asyncio.Lock()

    def _may_fetch(self) -> bool:
        return _monotonic() - self._attempted_at >= self._min_refetch

    def _stale(self) -> bool:
        assert self._loaded_at is not None
        return _monotonic() - self._loaded_at >= self._refresh and self._may_fetch()

    async def key(self, kid: str, alg: str) -> VerifyKey:
        """The key for a token's ``kid`` and ``alg``; refuses (401) a token no key fits."""
        if self._loaded_at is None or self._stale():
            await self._load()
        key = self._keys.get((kid, alg))
        if key is None and kid not in self._known and self._may_fetch():
            # A key the issuer may have published since (rotation): look once more.
            await self._load()
            key = self._keys.get((kid, alg))
        if key is not None:
            return key
        if kid in self._refused:
            raise _refuse("token's signing key is not accepted")
        if kid in self._known:
            raise _refuse("token's alg does not match its key")
        raise _refuse("token was not signed by a key of this issuer")

    async def _load(self) -> None:
        # Read in the same step as the caller's decision to load (no await in between): a fetch
        # that completes while this task waits for the lock is one this task can use.
        seen = self._completed
        async with self._lock:
            if self._completed == seen:
                self._attempted_at = _monotonic()
                try:
                    self._install(await self._fetch_jwks())
                except IssuerUnavailable as exc:
                    self._failure = exc
                    self._jwks_uri = None  # discover again next time: the issuer may have moved it
                    if self._loaded_at is None:
                        raise
                    log.warning("%s; keeping the keys fetched before", exc)
                finally:
                    self._completed += 1
            # Otherwise another task fetched while this one waited: its outcome is ours.
            if self._loaded_at is None:
                raise IssuerUnavailable(
                    str(self._failure or f"the keys of {self.issuer} could not be fetched")
                )

    async def _fetch_jwks(self) -> dict[str, Any]:
        if self._jwks_uri is None:
            document = await self._get_json(self._discovery_url, "discovery document")
            if document.get("issuer") != self.issuer:
                raise IssuerUnavailable(
                    f"the discovery document at {self._discovery_url} names issuer "
                    f"{document.get('issuer')!r}, not {self.issuer!r} (OpenID Connect Discovery "
                    "§4.3 requires them to be identical)"
                )
            try:
                self._jwks_uri = _check_url(document.get("jwks_uri"), "jwks_uri")
            except ConfigError as exc:
                raise IssuerUnavailable(
                    f"the discovery document at {self._discovery_url} has no usable jwks_uri: {exc}"
                ) from None
        return await self._get_json(self._jwks_uri, "JWKS")

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            if self._http is not None:
                body = await _read(self._http, url)
            else:
                # Fetches are rare (discovery once, the JWKS every few minutes): a client per
                # fetch leaves nothing open between them.
                async with httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=False) as client:
                    body = await _read(client, url)
        except httpx.HTTPError as exc:
            raise IssuerUnavailable(
                f"the {what} of {self.issuer} could not be fetched from {url}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        except _BadResponse as exc:
            raise IssuerUnavailable(f"the {what} of {self.issuer} at {url}: {exc}") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise IssuerUnavailable(f"the {what} at {url} is not JSON") from None
        if not isinstance(document, dict):
            raise IssuerUnavailable(f"the {what} at {url} is not a JSON object")
        return document

    def _install(self, jwks: Mapping[str, Any]) -> None:
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise IssuerUnavailable(f"the JWKS of {self.issuer} has no 'keys' list")
        keys: dict[tuple[str, str], VerifyKey] = {}
        known: set[str] = set()
        refused: dict[str, str] = {}
        for jwk in entries:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue  # tokens must name their key: a key without kid is never chosen
            ops = jwk.get("key_ops")
            if jwk.get("use", "sig") != "sig" or (
                ops is not None and (not isinstance(ops, list) or "verify" not in ops)
            ):
                continue  # an encryption key
            kid: str = jwk["kid"]
            known.add(kid)
            for alg in jwk_algorithms(jwk):
                if alg not in self._algorithms or (kid, alg) in keys:
                    continue
                try:
                    keys[(kid, alg)] = verify_key_from_jwk(jwk, alg)
                except Exception as exc:  # one bad key must not take the others down
                    refused[kid] = str(exc) or type(exc).__name__
                    log.warning("key %r of %s refused: %s", kid, self.issuer, refused[kid])
                    break
        for kid in {k for k, _ in keys}:
            refused.pop(kid, None)
        if not keys:
            log.warning("the JWKS of %s has no key usable with %s", self.issuer, self._algorithms)
        self._keys, self._known, self._refused = keys, frozenset(known), refused
        self._loaded_at = _monotonic()
        log.debug("fetched the JWKS of %s: %d key(s)", self.issuer, len(known))


class _BadResponse(AuthwardError):
    pass


async def _read(client: httpx.AsyncClient, url: str) -> bytes:
    async with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
        if response.status_code != 200:
            raise _BadResponse(f"answered HTTP {response.status_code}")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > _MAX_DOCUMENT_BYTES:
                raise _BadResponse(f"larger than {_MAX_DOCUMENT_BYTES} bytes")
        return bytes(body)


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
    issuer = _check_url(issuer, "issuer")
    audiences = _check_audience(audience)
    allowed = _check_algorithms(algorithms)
    if isinstance(leeway, bool) or not isinstance(leeway, int) or leeway < 0:
        raise ConfigError("must be a whole number of seconds, 0 or more", path="leeway")
    if not jwks_refresh_seconds > 0:
        raise ConfigError("must be more than 0 seconds", path="jwks_refresh_seconds")
    if not min_refetch_interval >= 0:
        raise ConfigError("must be 0 seconds or more", path="min_refetch_interval")
    keys = _IssuerKeys(
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
