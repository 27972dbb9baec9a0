"""Verify this issuer's JWTs from an in-memory view of the store, and access tokens into Principals.

:class:`JwtVerifier` is the machinery every kind of our JWTs shares (access tokens here, session
tokens in ``identity/sessions.py``): one key view and one verified-token cache.

- The view (published keys, and whatever else the token kind's dynamic checks read) is never used
  once it is ``refresh_seconds`` old, and is reloaded at most once a second on an unknown ``kid``,
  so the hot path does no I/O (docs/decisions/004). A request that finds it older than half
  the interval starts one reload in the background and is answered from the current view; only a
  view past the full interval is waited for (decision 004).
- A token whose signature, ``typ``, issuer, audience and times were checked is kept, so the next
  verification of the same token re-checks only what can change: its expiry, that its key is
  still published, and the kind's dynamic checks (revocation...), which callers run on every
  verification, cached or not (docs/decisions/008 and 028).

:class:`Verifier` verifies access tokens (RFC 9068). A revocation or a removed machine user made
by another process is seen within ``refresh_seconds``; one made through this process at once.
Its view is renewed by reading only what changed since the last load (``token_views.py``,
decision 041).
"""

from __future__ import annotations

__all__ = ["JwtVerifier", "KeyView", "VerifiedToken", "Verifier"]

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar
from uuid import UUID

from authward.errors import TokenError
from authward.principal import Principal
from authward.refreshing import RENEW_AT, finish_in_background
from authward.tokens import access_token
from authward.tokens.jws_verify import UnknownKey, VerifyKey, verify_signed
from authward.tokens.jwt import check_registered_claims
from authward.tokens.token_views import TokenView, TokenViews, TokenViewSource

log = logging.getLogger("authward.tokens")

#: A token naming a kid we do not know makes us look again, but not more often than this.
_UNKNOWN_KID_RELOAD = 1.0


class KeyView(Protocol):
    """What a verifier's view holds at least: the published keys by ``kid``."""

    @property
    def keys(self) -> Mapping[str, VerifyKey]: ...


V = TypeVar("V", bound=KeyView)


@dataclass(slots=True)
class VerifiedToken:
    """A token whose signature and static claims were checked, and what callers derived from it.

    ``derived`` lives exactly as long as the cached verification, so a caller may keep objects
    built from the claims there (the channel keeps its auth object) instead of rebuilding them on
    every request.
    """

    kid: str
    claims: dict[str, Any]
    #: The token's ``exp``, checked again on every cache hit.
    exp: float
    derived: dict[str, Any] = field(default_factory=dict)
    #: The token acts for a user (``sub`` is a user id), not as a machine user.
    for_user: bool = False


class JwtVerifier(Generic[V]):
    """Signature, ``typ`` and registered claims of one kind of this issuer's JWTs, against a view
    loaded by ``load_view``, with the verified-token cache. ``check`` runs the kind's own static
    checks on a freshly verified token (it may keep derived objects in ``derived``) before the
    token is cached; dynamic checks are the caller's, on every verification."""

    def __init__(
        self,
        load_view: Callable[[], Awaitable[V]],
        *,
        typ: str,
        kind: str,
        required: Sequence[str],
        issuer: str,
        audience: str,
        leeway: int,
        refresh_seconds: float,
        cache_size: int,
        clock: Callable[[], float] = time.time,
        check: Callable[[VerifiedToken], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load_view = load_view
        self._typ = typ
        self._kind = kind
        self._required = tuple(required)
        self.issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._refresh = refresh_seconds
        self._clock = clock
        self._check = check
        #: The clock the view's age is measured with.
        self.monotonic = monotonic
        self._view: V | None = None
        #: The view's keys, plus keys this process signed with since (:meth:`note_key`).
        self._keys: Mapping[str, VerifyKey] = {}
        self._loaded_at = float("-inf")
        #: When (``monotonic``) a request should start the next reload in the background; one
        #: comparison on the hot path while the view is young.
        self._renew_at = float("-inf")
        #: The background reload in flight, if any (one at a time).
        self._renewal: asyncio.Task[None] | None = None
        #: How many times the view was loaded (background or not).
        self.loads = 0
        #: Bumped by :meth:`invalidate`, so a load already in flight does not count as fresh.
        self._generation = 0
        self._lock = asyncio.Lock()
        #: Tokens whose signature and static claims were checked, oldest first.
        self._verified: dict[str, VerifiedToken] = {}
        self._cache_size = cache_size

    def invalidate(self) -> None:
        """Reload the view on next use (after a key rotation or a config sync in this process)."""
        self._loaded_at = self._renew_at = float("-inf")
        self._generation += 1

    @property
    def reloading(self) -> asyncio.Task[None] | None:
        """The reload started in the background, while it runs."""
        return self._renewal

    async def close(self) -> None:
        """Call before the store the view reads from is closed."""
        await finish_in_background(self._renewal)

    async def current_view(self) -> V:
        """The view as a verification would use it: reloaded in the background ahead of time,
        waited for only once it is ``refresh_seconds`` old."""
        view = self._view
        if view is not None and (self.monotonic() < self._renew_at or self._renew()):
            return view
        return await self._reload_if(self._stale)

    async def reload(self) -> V:
        """The view loaded now, whatever its age."""
        return await self._reload_if(lambda: True)

    def note_key(self, kid: str, key: Callable[[], VerifyKey]) -> None:
        """A key this process just signed with verifies here at once, before the next reload
        (``key`` is called only when the view lacks it)."""
        if self._view is not None and kid not in self._keys:
            self._keys = {**self._keys, kid: key()}

    async def knows_key(self, kid: str) -> bool:
        """Whether ``kid`` names one of this issuer's keys (a token that names it is ours, whatever
        its ``iss`` says)."""
        await self.current_view()
        return kid in self._keys

    def has_verified(self, token: str) -> bool:
        """Whether ``token`` is in the verified-token cache (it is then one of ours)."""
        return token in self._verified

    async def verify_jwt(self, token: str) -> tuple[VerifiedToken, V]:
        """The checked token (possibly from the cache) and the view it was checked against."""
        found = self.verify_now(token)
        if found is None:
            return await self._verify_after_reload(token)
        return found

    def verify_now(
        self, token: str, *, reload_allowed: bool = True
    ) -> tuple[VerifiedToken, V] | None:
        """:meth:`verify_jwt` when it needs no I/O; ``None`` when the view must be reloaded
        first (then await :meth:`verify_jwt`). Synchronous, so a warm verification costs its
        caller no coroutine."""
        view = self._view
        if view is None or (
            reload_allowed and self.monotonic() >= self._renew_at and not self._renew()
        ):
            return None
        keys = self._keys
        verified = self._verified.get(token)
        if verified is not None and verified.kid in keys:
            # Signature, typ, issuer and audience cannot change; time and state are re-checked.
            if self._clock() >= verified.exp + self._leeway:
                del self._verified[token]
                raise TokenError("token-expired", "token has expired")
            return verified, view
        try:
            header, claims = verify_signed(token, keys)
        except UnknownKey:
            if reload_allowed and self.monotonic() - self._loaded_at > _UNKNOWN_KID_RELOAD:
                return None
            raise
        if header.get("typ") != self._typ:
            # Explicit typing (RFC 8725 §3.11) keeps one kind of our tokens from passing as another.
            raise TokenError("token-invalid", f"not {self._kind} (typ must be {self._typ})")
        check_registered_claims(
            claims,
            required=self._required,
            issuer=self.issuer,
            audience=self._audience,
            now=self._clock(),
            leeway=self._leeway,
        )
        verified = VerifiedToken(header["kid"], claims, claims["exp"])
        if self._check is not None:
            self._check(verified)
        if self._cache_size:
            if len(self._verified) >= self._cache_size:
                # Oldest first: dicts keep insertion order.
                del self._verified[next(iter(self._verified))]
            self._verified[token] = verified
        return verified, view

    async def _verify_after_reload(self, token: str) -> tuple[VerifiedToken, V]:
        if self._view is not None and not self._stale():
            # The view is fresh: this is an unknown kid, which reloads at most once a second.
            await self._reload_if(lambda: self.monotonic() - self._loaded_at > _UNKNOWN_KID_RELOAD)
        else:
            await self._reload_if(self._stale)
        found = self.verify_now(token, reload_allowed=False)
        assert found is not None  # the view is loaded and no reload is allowed
        return found

    def _stale(self) -> bool:
        return self.monotonic() - self._loaded_at >= self._refresh

    def _renew_due(self) -> bool:
        return self.monotonic() >= self._renew_at

    def _renew(self) -> bool:
        """The view is past its renewal point: whether it may still be used (it is younger than
        ``refresh_seconds``), having started the background reload if none is running."""
        if self._stale():
            return False
        if self._renewal is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                # A coroutine driven by hand has no loop to run the reload on; the view is
                # still reloaded, by the first request past the full interval.
                return True
            # An empty context: the reload belongs to no request (its principal, its job run).
            self._renewal = loop.create_task(self._renew_quietly(), context=contextvars.Context())
        return True

    async def _renew_quietly(self) -> None:
        try:
            await self._reload_if(self._renew_due)
        except Exception:
            log.warning(
                "reloading the %s view ahead of time failed; requests will reload it "
                "themselves once it is %s s old",
                self._kind.removeprefix("an ").removeprefix("a "),
                self._refresh,
                exc_info=True,
            )
            # No second background attempt for this view (a store that is down would be asked
            # on every request): past the full interval, requests reload it and see the error.
            self._renew_at = self._loaded_at + self._refresh
        finally:
            self._renewal = None

    async def _reload_if(self, stale: Callable[[], bool]) -> V:
        async with self._lock:
            # Another task may have reloaded while this one waited for the lock.
            if self._view is None or stale():
                generation = self._generation
                # The view's age counts from before its reads, so it is never older than said.
                started = self.monotonic()
                view = await self._load_view()
                self._view, self._keys = view, view.keys
                self.loads += 1
                # Invalidated while loading (a key rotated or a config synced meanwhile, which
                # this load may have read before): newer than the old view, but not fresh.
                if generation == self._generation:
                    self._loaded_at = started
                    self._renew_at = started + self._refresh * RENEW_AT
            return self._view


class Verifier(JwtVerifier[TokenView]):
    """Access tokens (RFC 9068): the machinery above, plus revocation by ``jti`` and the check
    that the token's machine user or OAuth client still exists, on every verification."""

    def __init__(
        self,
        source: TokenViewSource,
        *,
        issuer: str,
        audience: str,
        leeway: int,
        refresh_seconds: float,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._locally_revoked: set[str] = set()
        #: The view's state between loads, each reading only what changed (decision 041).
        self.views = TokenViews(source, leeway=leeway, clock=clock)

        async def load() -> TokenView:
            view = await self.views.load()
            if self._locally_revoked:
                # Not ``-= view.revoked``: that walks every live revocation.
                self._locally_revoked = {j for j in self._locally_revoked if j not in view.revoked}
            return view

        super().__init__(
            load,
            typ=access_token.TYP,
            kind="an access token",
            required=access_token.REQUIRED,
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            refresh_seconds=refresh_seconds,
            cache_size=cache_size,
            clock=clock,
        )

    def note_revoked(self, jti: str) -> None:
        self._locally_revoked.add(jti)

    async def verify(self, token: str) -> Principal:
        found = self.verify_now(token)
        verified = self._dynamic(*(found or await self._verify_after_reload(token)))
        principal: Principal | None = verified.derived.get("principal")
        if principal is None:
            principal = principal_from_claims(
                verified.claims, principal_type="user" if verified.for_user else "machine"
            )
            if self._cache_size:
                verified.derived["principal"] = principal
        return principal

    async def verify_claims(self, token: str) -> dict[str, Any]:
        """Every check of :meth:`verify`; returns the token's claims."""
        return (await self.verify_token(token)).claims

    async def verify_token(self, token: str) -> VerifiedToken:
        """Every check of :meth:`verify`, returning the (possibly cached) verification."""
        found = self.verify_now(token)
        return self._dynamic(*(found or await self._verify_after_reload(token)))

    def verify_cached(self, token: str) -> VerifiedToken | None:
        """Every check of :meth:`verify_token` for a token in the verified-token cache, without a
        coroutine; ``None`` when the full path is needed (not cached, stale view, expired).
        Raises :class:`TokenError` for a revoked token or a subject that is gone."""
        view = self._view
        if view is None or (self.monotonic() >= self._renew_at and not self._renew()):
            return None
        verified = self._verified.get(token)
        if (
            verified is None
            or verified.kid not in self._keys
            or self._clock() >= verified.exp + self._leeway
        ):
            return None
        return self._dynamic(verified, view)

    def _dynamic(self, verified: VerifiedToken, view: TokenView) -> VerifiedToken:
        claims = verified.claims
        jti = claims["jti"]
        if jti in view.revoked or jti in self._locally_revoked:
            raise TokenError("token-revoked", "token has been revoked")
        client_id = claims["client_id"]
        for_user = view.machine_users.get(claims["sub"]) != client_id
        if for_user and client_id not in view.clients:
            raise TokenError(
                "token-subject-unknown", "token's machine user or OAuth client no longer exists"
            )
        if for_user != verified.for_user:
            # The subject changed kind since (a machine user removed, a client kept): nothing
            # derived from the old answer may be reused.
            verified.for_user = for_user
            verified.derived.clear()
        return verified


@functools.lru_cache(maxsize=1024)
def uuids(values: tuple[str, ...]) -> tuple[UUID, ...]:
    # A machine user's list repeats in every token it holds; parse it once.
    return tuple(UUID(v) for v in values)


#: Principals by what they are built from: a machine user's tokens all carry the same.
_principals: dict[tuple[Any, ...], Principal] = {}
_MAX_PRINCIPALS = 1024


def principal_from_claims(
    claims: Mapping[str, Any], *, principal_type: Literal["user", "machine"] = "machine"
) -> Principal:
    """Platform naming on the wire back to SDK naming: attribute_map -> attributes, etc."""
    sub = claims["sub"]
    attribute_map = claims.get("attribute_map") or {}
    attribute_list = claims.get("attributes") or []
    key = _memo_key(principal_type, sub, attribute_map, attribute_list)
    principal = _principals.get(key) if key is not None else None
    if principal is not None:
        return principal
    try:
        if not isinstance(attribute_list, list) or not all(
            isinstance(v, str) for v in attribute_list
        ):
            raise TypeError("attributes must be a list of UUID strings")
        principal = Principal(
            authenticator="authward",
            principal_type=principal_type,
            principal_id=str(sub),
            subject=str(sub),
            attributes=attribute_map,
            attribute_list=uuids(tuple(attribute_list)),
        )
    except (TypeError, ValueError):
        raise TokenError("token-invalid", "token carries malformed attributes") from None
    if key is not None:
        if len(_principals) >= _MAX_PRINCIPALS:
            _principals.clear()
        _principals[key] = principal
    return principal


def _memo_key(
    principal_type: str, sub: object, attribute_map: object, attribute_list: object
) -> tuple[Any, ...] | None:
    # Only where equal keys mean equal principals: strings and booleans never compare equal to
    # each other, whereas True == 1 == 1.0 would let one token's principal stand for another's.
    if type(sub) is not str or type(attribute_map) is not dict or type(attribute_list) is not list:
        return None
    for value in attribute_map.values():
        if type(value) is not str and type(value) is not bool:
            return None
    for value in attribute_list:
        if type(value) is not str:
            return None
    return (principal_type, sub, tuple(attribute_map.items()), tuple(attribute_list))
