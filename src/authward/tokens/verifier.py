"""Verify this issuer's JWTs from an in-memory view of the store, and access tokens.

:class:`JwtVerifier` is the machinery every kind of our JWTs shares (access tokens here, session
tokens in ``identity/sessions.py``): one key view and one verified-token cache.

- The view (published keys, and whatever else the token kind's dynamic checks read) is a
  :class:`~authward.refreshing.Refreshing`: never used once it is ``refresh_seconds`` old,
  renewed in the background past half of that (decisions 004 and 044), and reloaded at most once
  a second on an unknown ``kid``, so the hot path does no I/O.
- A token whose signature, ``typ``, issuer, audience and times were checked is kept, under its
  SHA-256 (:func:`token_digest`; the cache never holds a token), so the next verification of the
  same token re-checks only what can change: its expiry, that its key is still published, and the
  kind's dynamic checks (revocation...), which callers run on every verification, cached or not
  (decisions 008 and 028). What callers build from a verified token they keep themselves, under
  the same digest: this package holds none of their objects.

:class:`Verifier` verifies access tokens (RFC 9068). A revocation or a removed machine user made
by another process is seen within ``refresh_seconds``; one made through this process at once.
Its view is renewed by reading only what changed since the last load (``token_views.py``,
decision 041).
"""

from __future__ import annotations

__all__ = [
    "AudienceVerifier",
    "JwtVerifier",
    "KeyView",
    "VerifiedToken",
    "Verifier",
    "aimed",
    "principal_from_claims",
    "token_digest",
    "uuids",
]

import functools
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Generic, Literal, Protocol, TypeVar
from uuid import UUID

from authward.errors import TokenError
from authward.principal import Principal
from authward.refreshing import Refreshing
from authward.tokens import access_token
from authward.tokens.jws_verify import UnknownKey, VerifyKey, verify_signed
from authward.tokens.jwt import check_registered_claims
from authward.tokens.token_views import TokenView, TokenViews, TokenViewSource

#: A token naming a kid we do not know makes us look again, but not more often than this.
_UNKNOWN_KID_RELOAD = 1.0


def token_digest(token: bytes) -> bytes:
    """What verified tokens are kept under: the token's SHA-256 (a token as ASCII bytes; an
    ``Authorization`` header's bytes after ``Bearer``). Computed once per request."""
    return sha256(token).digest()


class KeyView(Protocol):
    """What a verifier's view holds at least: the published keys by ``kid``."""

    @property
    def keys(self) -> Mapping[str, VerifyKey]: ...


V = TypeVar("V", bound=KeyView)


@dataclass(slots=True)
class VerifiedToken:
    """A token whose signature and static claims were checked."""

    kid: str
    claims: dict[str, Any]
    #: The token's ``exp``, checked again on every cache hit.
    exp: float
    #: The token acts for a user (``sub`` is a user id), not as a machine user. It can change
    #: between verifications (a machine user removed, its client kept): what a caller built
    #: from the answer before is stale then.
    for_user: bool = False


class JwtVerifier(Refreshing[V], Generic[V]):
    """Signature, ``typ`` and registered claims of one kind of this issuer's JWTs, against a view
    loaded by ``load_view``, with the verified-token cache. ``check`` runs the kind's own static
    checks on a freshly verified token's claims before the token is cached; dynamic checks are
    the caller's, on every verification. Every verification takes the token and its
    :func:`token_digest`, which the caller computes once."""

    def __init__(
        self,
        load_view: Callable[[], Awaitable[V]],
        *,
        typ: str,
        kind: str,
        required: Sequence[str],
        issuer: str,
        audience: str | frozenset[str],
        leeway: int,
        refresh_seconds: float,
        cache_size: int,
        clock: Callable[[], float] = time.time,
        check: Callable[[dict[str, Any]], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load_view = load_view
        #: The view's keys, plus keys this process signed with since (:meth:`note_key`).
        self._keys: Mapping[str, VerifyKey] = {}
        name = kind.removeprefix("an ").removeprefix("a ")
        super().__init__(
            self._load_keys,
            refresh_seconds=refresh_seconds,
            what=f"the {name} view",
            monotonic=monotonic,
        )
        self._typ = typ
        self._kind = kind
        self._required = tuple(required)
        self.issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._clock = clock
        self._check = check
        #: Digests of tokens whose signature and static claims were checked, oldest first.
        self._verified: dict[bytes, VerifiedToken] = {}
        self._cache_size = cache_size

    async def _load_keys(self) -> V:
        view = await self._load_view()
        # Keys noted since the last load are in this view, or were never published.
        self._keys = view.keys
        return view

    def note_key(self, kid: str, key: Callable[[], VerifyKey]) -> None:
        """A key this process just signed with verifies here at once, before the next reload
        (``key`` is called only when the view lacks it)."""
        if self.value is not None and kid not in self._keys:
            self._keys = {**self._keys, kid: key()}

    async def knows_key(self, kid: str) -> bool:
        """Whether ``kid`` names one of this issuer's keys (a token that names it is ours, whatever
        its ``iss`` says)."""
        await self.get()
        return kid in self._keys

    def has_verified(self, digest: bytes) -> bool:
        """Whether the token of this digest is in the verified-token cache (it is one of ours)."""
        return digest in self._verified

    async def verify_jwt(self, token: str, digest: bytes) -> tuple[VerifiedToken, V]:
        """The checked token (possibly from the cache) and the view it was checked against."""
        found = self.verify_now(token, digest)
        if found is None:
            return await self._verify_after_reload(token, digest)
        return found

    def verify_now(
        self, token: str, digest: bytes, *, reload_allowed: bool = True
    ) -> tuple[VerifiedToken, V] | None:
        """:meth:`verify_jwt` when it needs no I/O; ``None`` when the view must be reloaded
        first (then await :meth:`verify_jwt`). Synchronous, so a warm verification costs its
        caller no coroutine."""
        view = self.value
        if view is None or (
            reload_allowed and self.monotonic() >= self.renew_at and not self.renew()
        ):
            return None
        keys = self._keys
        verified = self._verified.get(digest)
        if verified is not None and verified.kid in keys:
            # Signature, typ, issuer and audience cannot change; time and state are re-checked.
            if self._clock() >= verified.exp + self._leeway:
                del self._verified[digest]
                raise TokenError("token-expired", "token has expired")
            return verified, view
        try:
            header, claims = verify_signed(token, keys)
        except UnknownKey:
            if reload_allowed and self.monotonic() - self.loaded_at > _UNKNOWN_KID_RELOAD:
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
        if self._check is not None:
            self._check(claims)
        verified = VerifiedToken(header["kid"], claims, claims["exp"])
        if self._cache_size:
            if len(self._verified) >= self._cache_size:
                # Oldest first: dicts keep insertion order.
                del self._verified[next(iter(self._verified))]
            self._verified[digest] = verified
        return verified, view

    async def _verify_after_reload(self, token: str, digest: bytes) -> tuple[VerifiedToken, V]:
        if self.value is not None and self.monotonic() - self.loaded_at < self.refresh_seconds:
            # The view is fresh: this is an unknown kid, which reloads at most once a second.
            await self.loaded_within(_UNKNOWN_KID_RELOAD)
        else:
            await self.get()
        found = self.verify_now(token, digest, reload_allowed=False)
        assert found is not None  # the view is loaded and no reload is allowed
        return found


class Verifier(JwtVerifier[TokenView]):
    """Access tokens (RFC 9068): the machinery above, plus revocation by ``jti`` and the check
    that the token's machine user or OAuth client still exists, on every verification.

    A token is for the instance's ``audience`` or for one of the ``resources`` (RFC 8707; its
    ``aud`` is then that resource's identifier). :meth:`verify_token` accepts only the first;
    :meth:`for_audience` gives the verifier of one resource, which accepts only its own; the
    authorization server's introspection and revocation (:meth:`verify_claims`) take any."""

    def __init__(
        self,
        source: TokenViewSource,
        *,
        issuer: str,
        audience: str,
        resources: Collection[str] = (),
        leeway: int,
        refresh_seconds: float,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        unlisted_client: Callable[[str], bool] = lambda _: False,
    ) -> None:
        """``unlisted_client``: whether a client_id no stored client has is one we issue tokens
        to all the same (a client ID metadata document's URL, decision 048)."""
        self._unlisted_client = unlisted_client
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
            audience=frozenset({audience, *resources}) if resources else audience,
            leeway=leeway,
            refresh_seconds=refresh_seconds,
            cache_size=cache_size,
            clock=clock,
        )
        self.audience = audience
        self._resources = frozenset(resources)

    def for_audience(self, audience: str) -> AudienceVerifier:
        """The verifier of one resource (``audience`` is its identifier): every check of this
        one, on the same view and cache, and the token's ``aud`` must name it."""
        if audience != self.audience and audience not in self._resources:
            raise ValueError(f"{audience!r} is not an audience tokens are issued for")
        return AudienceVerifier(self, audience)

    def note_revoked(self, jti: str) -> None:
        self._locally_revoked.add(jti)

    async def verify_claims(self, token: str) -> dict[str, Any]:
        """Every check of :meth:`verify_token`, for a token of any audience tokens are issued for
        (introspection and revocation answer for every resource); returns its claims."""
        return (await self.verify_any(token)).claims

    async def verify_token(self, token: str, digest: bytes | None = None) -> VerifiedToken:
        """Every check, static and dynamic, returning the (possibly cached) verification.
        ``digest`` is the token's :func:`token_digest` when the caller has it already."""
        return aimed(await self.verify_any(token, digest), self.audience)

    async def verify_any(self, token: str, digest: bytes | None = None) -> VerifiedToken:
        """:meth:`verify_token` for a token of any audience tokens are issued for."""
        if digest is None:
            digest = token_digest(token.encode())
        found = self.verify_now(token, digest)
        return self._dynamic(*(found or await self._verify_after_reload(token, digest)))

    def verify_cached(self, digest: bytes) -> VerifiedToken | None:
        """Every check of :meth:`verify_token` for a token in the verified-token cache, without a
        coroutine; ``None`` when the full path is needed (not cached, stale view, expired).
        Raises :class:`TokenError` for a revoked token or a subject that is gone."""
        found = self.cached_any(digest)
        return None if found is None else aimed(found, self.audience)

    def cached_any(self, digest: bytes) -> VerifiedToken | None:
        """:meth:`verify_cached` for a token of any audience tokens are issued for."""
        view = self.value
        if view is None or (self.monotonic() >= self.renew_at and not self.renew()):
            return None
        verified = self._verified.get(digest)
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
        if for_user and client_id not in view.clients and not self._unlisted_client(client_id):
            raise TokenError(
                "token-subject-unknown", "token's machine user or OAuth client no longer exists"
            )
        # It changes when the subject changed kind (a machine user removed, a client kept).
        verified.for_user = for_user
        return verified


def aimed(verified: VerifiedToken, audience: str) -> VerifiedToken:
    """``verified`` when its ``aud`` names ``audience``: a token for one resource is refused by
    every other, and by the authorization server's own endpoints (RFC 8707, RFC 9068 §4)."""
    aud = verified.claims["aud"]
    if aud == audience or (isinstance(aud, list) and audience in aud):
        return verified
    raise TokenError("token-invalid-audience", "token is not meant for this audience")


class AudienceVerifier:
    """The access-token verifier of one resource (:meth:`Verifier.for_audience`); it fits
    wherever a :class:`Verifier` does in the request path (``authward_tokens(tokens=...)``)."""

    def __init__(self, verifier: Verifier, audience: str) -> None:
        self._verifier = verifier
        self.audience = audience
        self.issuer = verifier.issuer

    def has_verified(self, digest: bytes) -> bool:
        return self._verifier.has_verified(digest)

    async def knows_key(self, kid: str) -> bool:
        return await self._verifier.knows_key(kid)

    async def verify_token(self, token: str, digest: bytes | None = None) -> VerifiedToken:
        return aimed(await self._verifier.verify_any(token, digest), self.audience)

    def verify_cached(self, digest: bytes) -> VerifiedToken | None:
        found = self._verifier.cached_any(digest)
        return None if found is None else aimed(found, self.audience)

    async def verify_claims(self, token: str) -> dict[str, Any]:
        return (await self.verify_token(token)).claims


@functools.lru_cache(maxsize=1024)
def uuids(values: tuple[str, ...]) -> tuple[UUID, ...]:
    # A machine user's list repeats in every token it holds; parse it once.
    return tuple(UUID(v) for v in values)


def principal_from_claims(
    claims: Mapping[str, Any], *, principal_type: Literal["user", "machine"] = "machine"
) -> Principal:
    """Platform naming on the wire back to SDK naming: attribute_map -> attributes, etc. A new
    Principal each call: callers keep what they build (``channel/own_tokens.py``)."""
    sub = claims["sub"]
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
            principal_id=str(sub),
            subject=str(sub),
            attributes=attribute_map,
            attribute_list=uuids(tuple(attribute_list)),
        )
    except (TypeError, ValueError):
        raise TokenError("token-invalid", "token carries malformed attributes") from None
