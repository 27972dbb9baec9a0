"""The verification keys of an OpenID Connect issuer: discovered (``{issuer}/.well-known/
openid-configuration``, whose ``issuer`` must equal ours exactly, Discovery §4.3, names the
``jwks_uri``), fetched, cached, re-fetched when older than ``refresh_seconds`` and on an unknown
``kid``, but never more often than once per ``min_refetch_interval``; one fetch at a time.

Used by ``channel/oidc.py`` (accepting an external issuer's JWTs) and ``oauth/upstream.py``
(sign-in through an external identity provider). When the issuer cannot be reached and no keys
were ever fetched, :class:`IssuerUnavailable` is raised; once keys were fetched, a failed refresh
keeps them and logs a warning. See docs/decisions/007 and 014.
"""

from __future__ import annotations

__all__ = ["IssuerKeys", "IssuerUnavailable", "check_url"]

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from authward.errors import AuthwardError, ConfigError, UnauthenticatedError
from authward.tokens.jws_verify import VerifyKey, jwk_algorithms, verify_key_from_jwk

log = logging.getLogger("authward.oauth.issuer_keys")

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


def _refuse(message: str) -> UnauthenticatedError:
    return UnauthenticatedError(code="invalid_token", message=message)


def check_url(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("must be a non-empty URL", path=path)
    parts = urlsplit(value)
    if parts.query or parts.fragment or not parts.hostname:
        raise ConfigError(f"{value!r} must be a URL without query or fragment", path=path)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise ConfigError(f"{value!r} must use https (http only on localhost)", path=path)
    return value


class IssuerKeys:
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
                self._jwks_uri = check_url(document.get("jwks_uri"), "jwks_uri")
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
