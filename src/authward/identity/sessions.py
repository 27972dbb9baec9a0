"""Browser sessions: server-side, listable and revocable per user, with short-lived session tokens.

A session is a row in ``aw_sessions``. Creating one returns its **secret** (``sess_`` + 43 base62
characters, 256 bits), which the browser keeps in the ``__session_secret`` cookie; only its
SHA-256 digest is stored. The secret is never a credential for your API: it is exchanged, at
``POST /v1/sessions/token`` (:func:`authward.server.session_routes.session_routes`) or with
:meth:`Sessions.mint_token`, for a **session token** — a JWT (``typ: JWT``) that lives 60 s by
default and that the frontend re-mints every minute (Clerk's model). The token is what requests
carry, as ``Authorization: Bearer`` or in the ``__session`` cookie, and what
``authward_tokens(accepts_token=["session_token"])`` verifies.

Verifying a session token checks its signature (the instance's published keys), its claims
(``iss``, ``aud``, ``exp``, ``iat``, ``sub``, ``sid``) and that its session is still active, from
an in-memory view, so the hot path does no I/O:

- a session is read from the store the first time one of its tokens is seen, then kept;
- every ``AUTHWARD_CACHE_REFRESH_SECONDS`` (2 s) the view reloads the published keys and the
  sessions revoked lately (one small query, however many sessions there are), so a sign-out in
  another process is refused here within that interval, or at once after :meth:`invalidate`
  (the reload starts in the background at half the interval: refreshing.py);
- a revocation made through this process is refused at once;
- the session's own expiry is checked on every verification.

What a token says about the organization (``org_id``, ``org_role``, ``org_permissions``) is read
when it is minted; a membership change reaches the session at its next mint (within the token
lifetime).

Refusals raise :class:`~authward.errors.TokenError` with a stable ``reason``: ``session-revoked``,
``session-expired``, ``token-expired``, ``token-invalid`` (malformed, wrong ``typ``, unknown
session, ...), ``token-invalid-signature``, ``token-invalid-issuer``, ``token-invalid-audience``,
``token-not-active-yet``; minting also ``session-invalid`` (not a secret we know).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_SESSION_LIFETIME",
    "DEFAULT_TOKEN_LIFETIME_SECONDS",
    "SECRET_COOKIE",
    "SESSION_COOKIE",
    "SESSION_SECRET_PREFIX",
    "MintedToken",
    "NewSession",
    "SessionAuth",
    "SessionInfo",
    "Sessions",
]

import builtins
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from authward.errors import ConfigError, TokenError
from authward.identity.orgs import OrganizationError
from authward.identity.session_ports import OrganizationDirectory, SessionStorePort
from authward.identity.session_types import (
    DEFAULT_SESSION_LIFETIME,
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    SECRET_COOKIE,
    SESSION_COOKIE,
    SESSION_SECRET_PREFIX,
    MintedToken,
    NewSession,
    SessionAuth,
    SessionInfo,
    _auth,
    _auth_key,
    _info,
    _is_secret,
    _KeyView,
    _new_fields,
    _new_session,
    _replace_org,
    _State,
)
from authward.principal import Principal
from authward.store.audit import AuditEvent
from authward.tokens import opaque
from authward.tokens.jws_verify import verify_key_from_jwk
from authward.tokens.keys import SigningKey
from authward.tokens.session_token import REQUIRED, TYP, check_session_ids, sign_session_token
from authward.tokens.verifier import JwtVerifier, token_digest

#: Clock skew allowed on a session token's exp and iat (at most the instance's token leeway).
_SESSION_LEEWAY = 5
#: How far back each reload of revocations looks beyond the previous one: covers clock skew
#: between servers and revocations committed a while after they were stamped.
_FEED_OVERLAP = 60.0


class Sessions:
    """Create, list and revoke sessions; mint and verify session tokens (``Authward.sessions``).

    ``leeway``, ``refresh_seconds`` and ``cache_size`` are the instance's token leeway, cache
    refresh interval and verified-token cache size (``AUTHWARD_TOKEN_LEEWAY_SECONDS``, ...)."""

    def __init__(
        self,
        store: SessionStorePort,
        *,
        signer: Callable[[], Awaitable[SigningKey]],
        organizations: OrganizationDirectory,
        issuer: str,
        audience: str,
        leeway: int,
        refresh_seconds: float,
        cache_size: int,
        token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= token_lifetime_seconds <= 3600:
            raise ConfigError("must be between 1 and 3600 seconds", path="token_lifetime_seconds")
        self._store = store
        self._signer = signer
        self._orgs = organizations
        self.issuer = issuer
        self._audience = audience
        self.token_lifetime_seconds = token_lifetime_seconds
        self._max_cached = max_cached
        self._cache_size = cache_size
        self._clock = clock
        #: What a session's tokens say (every claim but iat and exp) -> its SessionAuth, oldest
        #: first: a session re-mints the same claims every minute.
        self._auths: dict[tuple[Any, ...], SessionAuth] = {}
        #: Digests of tokens verified here -> their SessionAuth (the machinery keeps the tokens'
        #: verifications, this service what it made of them), oldest first.
        self._by_token: dict[bytes, SessionAuth] = {}
        # Keys and the revocation feed are reloaded together, by the shared machinery.
        self._tokens = JwtVerifier(
            self._load_view,
            typ=TYP,
            kind="a session token",
            required=REQUIRED,
            issuer=self.issuer,
            audience=self._audience,
            leeway=min(_SESSION_LEEWAY, leeway),
            refresh_seconds=refresh_seconds,
            cache_size=cache_size,
            clock=clock,
            check=check_session_ids,
        )
        #: revocations stamped at or after this (POSIX time) are read at the next reload.
        self._feed_from = clock() - _FEED_OVERLAP
        #: session id -> what verification needs; insertion order is the eviction order.
        self._states: dict[str, _State] = {}
        #: sessions revoked through this process -> their expiry: never (re-)cached as active.
        self._revoked_here: dict[str, float] = {}

    # -- management -----------------------------------------------------------------------------

    async def create(
        self,
        user_id: str,
        *,
        active_org_id: str | None = None,
        claims: Mapping[str, Any] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        lifetime: timedelta | int = DEFAULT_SESSION_LIFETIME,
        actor: str | None = None,
    ) -> tuple[str, SessionInfo]:
        """A new session for ``user_id`` (signed in by you). Returns the secret (for the
        ``__session_secret`` cookie; never stored) and the session. SQLite commits it and its
        ``session.created`` row in one hand-off (decision 032)."""
        fields = _new_fields(user_id, claims, ip, user_agent, lifetime)
        org_id = None
        if active_org_id is not None:
            org_id = await self._member_org(active_org_id, fields.user_id)
        made = _new_session(fields, actor, org_id)
        await self._store.insert(made.row, [made.created])
        return made.secret, made.info

    def new(
        self,
        user_id: str,
        *,
        claims: Mapping[str, Any] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        lifetime: timedelta | int = DEFAULT_SESSION_LIFETIME,
        actor: str | None = None,
    ) -> NewSession:
        """A session as :meth:`create` makes it (with no active organization), not stored: for
        a caller that writes it with its own rows in one transaction (a password sign-in)."""
        return _new_session(_new_fields(user_id, claims, ip, user_agent, lifetime), actor, None)

    async def get(self, session_id: str) -> SessionInfo | None:
        row = await self._store.get(session_id)
        return _info(row) if row is not None else None

    async def list(
        self, user_id: str, include_inactive: bool = False
    ) -> builtins.list[SessionInfo]:
        """The user's sessions, newest first; revoked and expired ones only when asked."""
        active_at = None if include_inactive else datetime.now(UTC)
        return [_info(r) for r in await self._store.list(user_id, active_at)]

    async def active(self, *, offset: int = 0, limit: int = 50) -> builtins.list[SessionInfo]:
        """One page of every user's active sessions, newest first."""
        return [_info(r) for r in await self._store.active(datetime.now(UTC), offset, limit)]

    async def set_active_org(
        self, session_id: str, org_id: str | None, *, actor: str | None = None
    ) -> SessionInfo:
        """Make ``org_id`` (an id or slug; the user must be a member) the session's active
        organization, or clear it with ``None``. Tokens minted from now on carry it."""
        current = await self.get(session_id)
        if current is None:
            raise TokenError("session-invalid", "no such session")
        self._check_active(current)
        resolved = await self._member_org(org_id, current.user_id) if org_id is not None else None
        event = AuditEvent(
            "session.active_org_changed",
            datetime.now(UTC),
            actor=actor,
            subject=current.user_id,
            detail={"session_id": session_id, "from": current.active_org_id, "to": resolved},
        )
        if not await self._store.set_active_org(session_id, resolved, event):
            raise TokenError("session-revoked", "session has ended (signed out or revoked)")
        return _replace_org(current, resolved)

    async def revoke(self, session_id: str, *, actor: str | None = None) -> bool:
        """End one session: its tokens are refused at once here, within cache_refresh_seconds
        by other processes, and its secret mints no more. False when unknown or already ended."""
        now = datetime.now(UTC)

        def event(user_id: str) -> AuditEvent:
            detail = {"session_ids": [session_id]}
            return AuditEvent("session.revoked", now, actor=actor, subject=user_id, detail=detail)

        return await self._store.revoke(session_id, now, self._note_revoked, event)

    async def revoke_all(
        self, user_id: str, *, except_session: str | None = None, actor: str | None = None
    ) -> int:
        """Sign the user out everywhere (but ``except_session``, to keep the current one).
        Returns how many sessions ended."""
        now = datetime.now(UTC)

        def event(ended: builtins.list[str]) -> AuditEvent:
            detail = {"session_ids": ended, "all": True}
            return AuditEvent("session.revoked", now, actor=actor, subject=user_id, detail=detail)

        return await self._store.revoke_all(user_id, except_session, now, self._note_revoked, event)

    async def session_of(self, secret: str) -> SessionInfo:
        """The session whose secret this is, active or not; ``session-invalid`` when none."""
        if not _is_secret(secret):
            raise TokenError("session-invalid", "not a session secret")
        digest = opaque.digest(secret)
        row = await self._store.by_digest(digest)
        if row is None or not hmac.compare_digest(row.digest, digest):
            raise TokenError("session-invalid", "unknown session")
        return _info(row)

    # -- minting --------------------------------------------------------------------------------

    async def mint_token(self, secret: str) -> str:
        """A fresh session token from the session whose secret this is (it must be active)."""
        return (await self.mint(secret)).token

    async def mint(self, secret: str) -> MintedToken:
        """:meth:`mint_token`, with the token's expiry and session."""
        if not _is_secret(secret):
            raise TokenError("session-invalid", "not a session secret")
        digest = opaque.digest(secret)
        key = await self._signer()
        now = datetime.now(UTC)
        found: builtins.list[SessionInfo] = []

        def check(row: Any) -> None:
            # The index found the row; the digest itself is still compared in constant time.
            if not hmac.compare_digest(row.digest, digest):
                raise TokenError("session-invalid", "unknown session")
            found.append(_info(row))
            self._check_active(found[0], now)

        row = await self._store.touch(digest, now, check)
        if row is None:
            raise TokenError("session-invalid", "unknown session")
        info = found[0]
        issued = int(self._clock())
        expires = issued + self.token_lifetime_seconds
        claims: dict[str, Any] = dict(info.claims)
        claims.update(
            iss=self.issuer,
            aud=self._audience,
            sub=info.user_id,
            sid=info.id,
            iat=issued,
            exp=expires,
        )
        org_id = None
        if info.active_org_id is not None and row.member_role is not None:
            org_id = info.active_org_id
            claims.update(
                org_id=org_id,
                org_role=row.member_role,
                org_permissions=list(self._orgs.permissions_of(row.member_role)),
            )
        self._note_key(key)
        token = sign_session_token(key, claims)
        return MintedToken(token, expires, info.id, info.user_id, org_id)

    # -- verification ---------------------------------------------------------------------------

    async def verify_token(self, token: str, digest: bytes | None = None) -> SessionAuth:
        """What a session token stands for, or :class:`TokenError`. Cached tokens of cached
        sessions complete without I/O. ``digest``: the token's ``token_digest``, when the caller
        took it already."""
        if token.startswith(SESSION_SECRET_PREFIX):
            raise TokenError(
                "token-invalid",
                "a session secret is not a session token: exchange it at POST /v1/sessions/token",
            )
        if digest is None:
            digest = token_digest(token.encode())
        tokens = self._tokens
        verified, _ = tokens.verify_now(token, digest) or await tokens.verify_jwt(token, digest)
        auth = self._by_token.get(digest)
        if auth is None:
            auth = self._auth_of(verified.claims)
            if self._cache_size:
                if len(self._by_token) >= self._cache_size:
                    del self._by_token[next(iter(self._by_token))]
                self._by_token[digest] = auth
        state = self._states.get(auth.session_id)
        if state is None:
            state = await self._load_state(auth.session_id)
        if state is None or state.user_id != auth.user_id:
            raise TokenError("token-invalid", "token's session does not exist")
        if state.revoked:
            raise TokenError("session-revoked", "session has ended (signed out or revoked)")
        if self._clock() >= state.expires_ts:
            raise TokenError("session-expired", "session has expired")
        return auth

    async def verify(self, token: str) -> Principal:
        """:meth:`verify_token`, as the default Principal."""
        return (await self.verify_token(token)).to_principal()

    def invalidate(self) -> None:
        """Re-read sessions and keys on next use (sees other processes' revocations at once)."""
        self._tokens.invalidate()
        self._states.clear()

    @property
    def token_verifier(self) -> JwtVerifier[Any]:
        """The machinery session tokens are verified with (its view: keys and revocations)."""
        return self._tokens

    async def close(self) -> None:
        """Finish a background reload of the view (``Authward.close()`` calls this)."""
        await self._tokens.close()

    # -- internals ------------------------------------------------------------------------------

    async def _load_view(self) -> _KeyView:
        # Called by the machinery under its lock: one reload at a time.
        started = self._clock()
        since = datetime.fromtimestamp(self._feed_from, UTC)
        published, revoked = await self._store.feed(since, datetime.now(UTC))
        for sid in revoked:
            state = self._states.get(sid)
            if state is not None and not state.revoked:
                self._states[sid] = _State(state.user_id, state.expires_ts, True)
        self._feed_from = started - _FEED_OVERLAP
        self._revoked_here = {s: exp for s, exp in self._revoked_here.items() if exp > started}
        return _KeyView({k.kid: verify_key_from_jwk(k.public_jwk) for k in published})

    async def _load_state(self, session_id: str) -> _State | None:
        row = await self._store.state(session_id)
        if row is None:
            return None
        revoked = row.revoked_at is not None or session_id in self._revoked_here
        state = _State(row.user_id, row.expires_at.timestamp(), revoked)
        self._states.pop(session_id, None)
        while len(self._states) >= self._max_cached:
            del self._states[next(iter(self._states))]
        self._states[session_id] = state
        return state

    def _note_revoked(self, ended: Mapping[str, float]) -> None:
        # Synchronously with the eviction, so a load racing with the UPDATE cannot re-cache
        # the session as active.
        self._revoked_here.update(ended)
        for sid in ended:
            state = self._states.get(sid)
            if state is not None:
                self._states[sid] = _State(state.user_id, state.expires_ts, True)

    def _auth_of(self, claims: Mapping[str, Any]) -> SessionAuth:
        # _auth is a pure function of the key's claims, and only its successes are kept: a hit
        # is the answer the same checks gave the same claims before.
        key = _auth_key(claims)
        auth = self._auths.get(key) if key is not None else None
        if auth is None:
            auth = _auth(claims)
            if key is not None:
                if len(self._auths) >= self._max_cached:
                    del self._auths[next(iter(self._auths))]
                self._auths[key] = auth
        return auth

    def _note_key(self, key: SigningKey) -> None:
        # A key rotated through this process verifies its tokens here at once.
        self._tokens.note_key(key.kid, lambda: verify_key_from_jwk(key.public_jwk))

    def _check_active(self, info: SessionInfo, now: datetime | None = None) -> None:
        if info.revoked_at is not None or info.id in self._revoked_here:
            raise TokenError("session-revoked", "session has ended (signed out or revoked)")
        if info.expires_at <= (now or datetime.now(UTC)):
            raise TokenError("session-expired", "session has expired")

    async def _member_org(self, org: str, user_id: str) -> str:
        found = await self._orgs.get(org)
        if found is None:
            raise OrganizationError(f"no organization {org!r} (give its id or its slug)")
        if await self._orgs.member(found.id, user_id) is None:
            raise OrganizationError(
                f"{user_id!r} is not a member of {found.slug!r}: it cannot be the session's "
                "active organization"
            )
        return found.id
