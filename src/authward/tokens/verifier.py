"""Verify authward access tokens into Principals, from an in-memory view of the store.

The view (published keys, live machine users, revoked token ids) is reloaded when it is older
than ``refresh_seconds`` and at most once per interval on an unknown ``kid``, so the hot path
does no I/O. A revocation or a removed machine user made by another process is seen within
``refresh_seconds``; one made through this process is seen at once (see docs/decisions/004).
"""

from __future__ import annotations

__all__ = ["TokenView", "VerifiedToken", "Verifier"]

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from authward.errors import TokenError
from authward.principal import Principal
from authward.tokens.access_token import check_claims, verify_access_jwt
from authward.tokens.jws_verify import VerifyKey, parse_compact

#: A token naming a kid we do not know makes us look again, but not more often than this.
_UNKNOWN_KID_RELOAD = 1.0


@dataclass(frozen=True, slots=True)
class TokenView:
    keys: Mapping[str, VerifyKey]
    #: machine-user id (the token's ``sub``) -> its current client id
    machine_users: Mapping[str, str]
    revoked: frozenset[str] = field(default_factory=frozenset)
    #: client ids of the OAuth clients whose users' tokens (``sub`` = a user id) verify
    clients: frozenset[str] = field(default_factory=frozenset)


ViewLoader = Callable[[], Awaitable[TokenView]]


@dataclass(slots=True)
class VerifiedToken:
    """A token whose signature and static claims were checked, and what callers derived from it.

    ``derived`` lives exactly as long as the cached verification, so a caller may keep objects
    built from the claims there (the channel keeps its auth object) instead of rebuilding them on
    every request.
    """

    kid: str
    claims: dict[str, Any]
    derived: dict[str, Any] = field(default_factory=dict)
    #: The token acts for a user (``sub`` is a user id), not as a machine user.
    for_user: bool = False


class Verifier:
    def __init__(
        self,
        load_view: ViewLoader,
        *,
        issuer: str,
        audience: str,
        leeway: int,
        refresh_seconds: float,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._load_view = load_view
        self.issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._refresh = refresh_seconds
        self._clock = clock
        self._view: TokenView | None = None
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        self._locally_revoked: set[str] = set()
        #: Tokens whose signature and static claims were checked, oldest first.
        self._verified: dict[str, VerifiedToken] = {}
        self._cache_size = cache_size

    def _age(self) -> float:
        return time.monotonic() - self._loaded_at

    async def _reload_if(self, stale: Callable[[], bool]) -> TokenView:
        async with self._lock:
            # Another task may have reloaded while this one waited for the lock.
            if self._view is None or stale():
                self._view = await self._load_view()
                self._loaded_at = time.monotonic()
                self._locally_revoked -= self._view.revoked
            return self._view

    async def _verify_fresh(self, token: str, view: TokenView) -> VerifiedToken:
        compact = parse_compact(token)
        if compact.header.get("kid") not in view.keys and self._age() > _UNKNOWN_KID_RELOAD:
            view = await self._reload_if(lambda: self._age() > _UNKNOWN_KID_RELOAD)
        claims = verify_access_jwt(compact, view.keys)
        check_claims(
            claims,
            issuer=self.issuer,
            audience=self._audience,
            now=self._clock(),
            leeway=self._leeway,
        )
        verified = VerifiedToken(str(compact.header["kid"]), claims)
        if self._cache_size:
            if len(self._verified) >= self._cache_size:
                # Oldest first: dicts keep insertion order.
                del self._verified[next(iter(self._verified))]
            self._verified[token] = verified
        return verified

    def invalidate(self) -> None:
        """Reload on next use (after a key rotation or a config sync in this process)."""
        self._loaded_at = float("-inf")

    def note_revoked(self, jti: str) -> None:
        self._locally_revoked.add(jti)

    async def verify(self, token: str) -> Principal:
        verified = await self.verify_token(token)
        return principal_from_claims(
            verified.claims, principal_type="user" if verified.for_user else "machine"
        )

    async def verify_claims(self, token: str) -> dict[str, Any]:
        """Every check of :meth:`verify`; returns the token's claims."""
        return (await self.verify_token(token)).claims

    def has_verified(self, token: str) -> bool:
        """Whether ``token`` is in the verified-token cache (it is then one of ours)."""
        return token in self._verified

    async def verify_token(self, token: str) -> VerifiedToken:
        """Every check of :meth:`verify`, returning the (possibly cached) verification."""
        view = self._view
        if view is None or self._age() >= self._refresh:
            view = await self._reload_if(lambda: self._age() >= self._refresh)
        verified = self._verified.get(token)
        if verified is not None and verified.kid in view.keys:
            # Signature, typ, issuer and audience cannot change; time and state are re-checked.
            if self._clock() >= verified.claims["exp"] + self._leeway:
                del self._verified[token]
                raise TokenError("token-expired", "token has expired")
        else:
            verified = await self._verify_fresh(token, view)
        claims = verified.claims
        jti = claims["jti"]
        if jti in view.revoked or jti in self._locally_revoked:
            raise TokenError("token-revoked", "token has been revoked")
        client_id = claims["client_id"]
        verified.for_user = view.machine_users.get(claims["sub"]) != client_id
        if verified.for_user and client_id not in view.clients:
            raise TokenError(
                "token-subject-unknown", "token's machine user or OAuth client no longer exists"
            )
        return verified


@functools.lru_cache(maxsize=1024)
def uuids(values: tuple[str, ...]) -> tuple[UUID, ...]:
    # A machine user's list repeats in every token it holds; parse it once.
    return tuple(UUID(v) for v in values)


def principal_from_claims(
    claims: Mapping[str, Any], *, principal_type: Literal["user", "machine"] = "machine"
) -> Principal:
    """Platform naming on the wire back to SDK naming: attribute_map -> attributes, etc."""
    attribute_map = claims.get("attribute_map") or {}
    attribute_list = claims.get("attributes") or []
    try:
        if not isinstance(attribute_list, list) or not all(
            isinstance(v, str) for v in attribute_list
        ):
            raise TypeError("attributes must be a list of UUID strings")
        return Principal(
            authenticator="authward",
            principal_type=principal_type,
            principal_id=str(claims["sub"]),
            subject=str(claims["sub"]),
            attributes=attribute_map,
            attribute_list=uuids(tuple(attribute_list)),
        )
    except (TypeError, ValueError):
        raise TokenError("token-invalid", "token carries malformed attributes") from None
