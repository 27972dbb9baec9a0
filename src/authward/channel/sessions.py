"""Browser sessions: server-side, listable and revocable per user, with short-lived session tokens.

A session is a row in ``aw_sessions``. Creating one returns its **secret** (``sess_`` + 43 base62
characters, 256 bits), which the browser keeps in the ``__session_secret`` cookie; only its
SHA-256 digest is stored. The secret is never a credential for your API: it is exchanged, at
``POST /v1/sessions/token`` (:func:`session_routes`) or with :meth:`Sessions.mint_token`, for a
**session token** — a JWT (``typ: JWT``) that lives 60 s by default and that the frontend re-mints
every minute (Clerk's model). The token is what requests carry, as ``Authorization: Bearer`` or in
the ``__session`` cookie, and what ``authward_tokens(accepts_token=["session_token"])`` verifies.

Verifying a session token checks its signature (the instance's published keys), its claims
(``iss``, ``aud``, ``exp``, ``iat``, ``sub``, ``sid``) and that its session is still active, from
an in-memory view, so the hot path does no I/O:

- a session is read from the store the first time one of its tokens is seen, then kept;
- every ``AUTHWARD_CACHE_REFRESH_SECONDS`` (2 s) the view reloads the published keys and the
  sessions revoked lately (one small query, however many sessions there are), so a sign-out in
  another process is refused here within that interval, or at once after :meth:`invalidate`
  (the reload starts in the background at half the interval: tokens/verifier.py);
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
    "SessionAuth",
    "SessionInfo",
    "Sessions",
    "session_routes",
]

import builtins
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from authward.errors import ConfigError, TokenError
from authward.orgs import OrganizationError, Organizations, random_id
from authward.principal import AttributeValue, BuildsPrincipal, Principal
from authward.settings import Settings
from authward.store.audit import AuditEvent, AuditStore, audit_rows
from authward.store.direct import Rows, insert_all
from authward.store.engine import begin_write
from authward.store.keys import SigningKeyStore
from authward.store.schema import memberships, sessions
from authward.tokens import opaque
from authward.tokens.jws_verify import VerifyKey, verify_key_from_jwk
from authward.tokens.keys import SigningKey
from authward.tokens.session_token import (
    REQUIRED,
    RESERVED_CLAIMS,
    TYP,
    check_session_ids,
    sign_session_token,
)
from authward.tokens.verifier import JwtVerifier, VerifiedToken

if TYPE_CHECKING:
    from authward.runtime import Authward

log = logging.getLogger("authward.sessions")

SESSION_SECRET_PREFIX = "sess_"
SESSION_ID_PREFIX = "sid_"
#: The cookie that carries the session token (the JWT), never the secret.
SESSION_COOKIE = "__session"
#: The cookie that carries the session secret, sent only to the mint endpoint.
SECRET_COOKIE = "__session_secret"
DEFAULT_SESSION_LIFETIME = timedelta(days=7)
_MAX_SESSION_LIFETIME = timedelta(days=400)
# Built once: sign-in creates a session per request, and building the statement costs more CPU
# than running it.
_INSERT_SESSION = sessions.insert()
DEFAULT_TOKEN_LIFETIME_SECONDS = 60
#: Clock skew allowed on a session token's exp and iat (at most the instance's token leeway).
_SESSION_LEEWAY = 5
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SECRET_CHARS = 43  # 62**43 > 2**256
#: How far back each reload of revocations looks beyond the previous one: covers clock skew
#: between servers and revocations committed a while after they were stamped.
_FEED_OVERLAP = 60.0
#: Custom session claims travel in a cookie (browsers keep 4 KiB): keep them small.
_MAX_CLAIMS_JSON = 1024
_CLAIM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: Attribute names the default principal mapping (and ``@requires``) gives a meaning to.
_RESERVED_ATTRIBUTES = frozenset(
    {
        "tokenType",
        "sessionId",
        "userId",
        "orgId",
        "role",
        "orgRole",
        "permissions",
        "scopes",
        "scope",
        "clientId",
    }
)
_MAX_ID = 64
_MAX_IP = 64
_MAX_USER_AGENT = 400


def _is_secret(value: object) -> bool:
    if not isinstance(value, str) or not value.startswith(SESSION_SECRET_PREFIX):
        return False
    body = value[len(SESSION_SECRET_PREFIX) :]
    return len(body) == _SECRET_CHARS and body.isascii() and body.isalnum()


def _generate_secret() -> str:
    return random_id(SESSION_SECRET_PREFIX, _SECRET_CHARS)


# -- what callers see ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A stored session as listings show it (never its secret)."""

    id: str
    user_id: str
    active_org_id: str | None
    claims: Mapping[str, Any]
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_active_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def status(self, now: datetime | None = None) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class MintedToken:
    token: str
    #: The token's ``exp`` (POSIX seconds).
    expires_at: int
    session_id: str
    user_id: str
    org_id: str | None


@dataclass(frozen=True)
class SessionAuth(BuildsPrincipal):
    """A verified session token: which user, in which session, acting in which organization."""

    user_id: str
    session_id: str
    org_id: str | None
    org_role: str | None
    org_permissions: tuple[str, ...]
    session_claims: Mapping[str, AttributeValue]
    token_type: Literal["session_token"] = "session_token"
    # Built once per verified token (kept with the cached verification).
    _principal: Principal | None = field(default=None, init=False, repr=False, compare=False)

    def _build_principal(self) -> Principal:
        attributes: dict[str, Any] = dict(self.session_claims)
        attributes.update(
            tokenType=self.token_type,
            sessionId=self.session_id,
            permissions=tuple(self.org_permissions),
        )
        if self.org_id is not None:
            attributes["orgId"] = self.org_id
        if self.org_role is not None:
            attributes["role"] = self.org_role
        return Principal(
            authenticator="authward",
            principal_type="user",
            principal_id=self.user_id,
            subject=self.user_id,
            attributes=attributes,
        )


# -- validation ---------------------------------------------------------------------------------


def _session_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(claims, Mapping):
        raise ConfigError("must be a mapping of claim names to values", path="claims")
    out: dict[str, Any] = {}
    for name, value in claims.items():
        path = f"claims[{name!r}]"
        if not isinstance(name, str) or not _CLAIM_NAME.fullmatch(name):
            raise ConfigError("claim names are a letter then letters, digits or '_'", path=path)
        if name in RESERVED_CLAIMS or name in _RESERVED_ATTRIBUTES:
            raise ConfigError(
                "is reserved (registered JWT claims, sid, org_*, and the principal's "
                "tokenType, sessionId, orgId, role, permissions, scopes...)",
                path=path,
            )
        if isinstance(value, str | bool):
            out[name] = value
        elif isinstance(value, list | tuple) and (
            all(isinstance(v, str) for v in value) or all(isinstance(v, bool) for v in value)
        ):
            out[name] = list(value)
        else:
            raise ConfigError(
                "must be a string, a boolean, or a list of strings or of booleans "
                "(what a principal attribute can hold)",
                path=path,
            )
    if len(json.dumps(out, separators=(",", ":"))) > _MAX_CLAIMS_JSON:
        raise ConfigError(
            f"custom session claims are at most {_MAX_CLAIMS_JSON} bytes of JSON (the token "
            "travels in a cookie)",
            path="claims",
        )
    return out


def _frozen_claims(claims: Mapping[str, Any]) -> Mapping[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for name, value in claims.items():
        if name in RESERVED_CLAIMS:
            continue
        kind = type(value)
        if kind is str or kind is bool:
            out[name] = value
        elif kind is list and (
            all(type(v) is str for v in value) or all(type(v) is bool for v in value)
        ):
            out[name] = tuple(value)
        else:
            raise TokenError("token-invalid", f"token claim {name!r} has an unexpected value")
    return MappingProxyType(out)


def _bounded(label: str, value: str | None, limit: int, *, truncate: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError("must be a string", path=label)
    if len(value) > limit:
        if not truncate:
            raise ConfigError(f"must be at most {limit} characters", path=label)
        value = value[:limit]
    return value


def _lifetime(lifetime: timedelta | int) -> timedelta:
    span = timedelta(seconds=lifetime) if isinstance(lifetime, int) else lifetime
    if not isinstance(span, timedelta) or not (
        timedelta(seconds=1) <= span <= _MAX_SESSION_LIFETIME
    ):
        raise ConfigError(
            f"must be between 1 second and {_MAX_SESSION_LIFETIME.days} days", path="lifetime"
        )
    return span


def _info(row: Any) -> SessionInfo:
    return SessionInfo(
        id=row.id,
        user_id=row.user_id,
        active_org_id=row.active_org_id,
        claims=MappingProxyType(dict(row.claims or {})),
        ip=row.ip,
        user_agent=row.user_agent,
        created_at=row.created_at,
        last_active_at=row.last_active_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


# -- the service --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _State:
    user_id: str
    expires_ts: float
    revoked: bool


@dataclass(frozen=True, slots=True)
class _KeyView:
    keys: Mapping[str, VerifyKey]


class Sessions:
    """Create, list and revoke sessions; mint and verify session tokens (``Authward.sessions``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        keys: SigningKeyStore,
        signer: Callable[[], Awaitable[SigningKey]],
        organizations: Organizations,
        audit: AuditStore | None = None,
        token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= token_lifetime_seconds <= 3600:
            raise ConfigError("must be between 1 and 3600 seconds", path="token_lifetime_seconds")
        self._engine = engine
        self._keys = keys
        self._signer = signer
        self._orgs = organizations
        self._audit = audit or AuditStore(engine)
        self.issuer = settings.effective_issuer
        self._audience = settings.effective_audience
        self.token_lifetime_seconds = token_lifetime_seconds
        self._max_cached = max_cached
        self._clock = clock
        #: What a session's tokens say (every claim but iat and exp) -> its SessionAuth, oldest
        #: first: a session re-mints the same claims every minute.
        self._auths: dict[tuple[Any, ...], SessionAuth] = {}
        # Keys and the revocation feed are reloaded together, by the shared machinery.
        self._tokens = JwtVerifier(
            self._load_view,
            typ=TYP,
            kind="a session token",
            required=REQUIRED,
            issuer=self.issuer,
            audience=self._audience,
            leeway=min(_SESSION_LEEWAY, settings.token_leeway_seconds),
            refresh_seconds=settings.cache_refresh_seconds,
            cache_size=settings.verified_token_cache_size,
            clock=clock,
            check=self._check_token,
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
        events: Callable[[SessionInfo], Sequence[AuditEvent]] | None = None,
        writes: Sequence[Rows] = (),
        also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> tuple[str, SessionInfo]:
        """A new session for ``user_id`` (signed in by you). Returns the secret (for the
        ``__session_secret`` cookie; never stored) and the session. ``events`` gives audit
        events to record beside ``session.created`` (a sign-in's ``user.login``), ``writes``
        other statements built once (as :func:`~authward.store.direct.insert_all` takes them)
        and ``also`` writes other rows that go with the session; all in the session's
        transaction, all or nothing. Without ``also`` SQLite commits the transaction in one
        hand-off (decision 032)."""
        user = _bounded("user_id", user_id, _MAX_ID)
        if not user or user != user.strip():
            raise ConfigError("must be a non-empty id without surrounding spaces", path="user_id")
        custom = _session_claims(claims or {})
        span = _lifetime(lifetime)
        ip = _bounded("ip", ip, _MAX_IP)
        user_agent = _bounded("user_agent", user_agent, _MAX_USER_AGENT, truncate=True)
        org_id = None
        if active_org_id is not None:
            org_id = await self._member_org(active_org_id, user)
        now = datetime.now(UTC)
        secret = _generate_secret()
        info = SessionInfo(
            id=random_id(SESSION_ID_PREFIX),
            user_id=user,
            active_org_id=org_id,
            claims=MappingProxyType(custom),
            ip=ip,
            user_agent=user_agent,
            created_at=now,
            last_active_at=now,
            expires_at=now + span,
            revoked_at=None,
        )
        created = AuditEvent(
            "session.created",
            now,
            actor=actor,
            subject=user,
            ip=ip,
            detail={
                "session_id": info.id,
                "org_id": org_id,
                "expires_at": info.expires_at.isoformat(),
            },
        )
        row = {
            "id": info.id,
            "digest": opaque.digest(secret),
            "user_id": user,
            "active_org_id": org_id,
            "claims": custom,
            "ip": ip,
            "user_agent": user_agent,
            "created_at": now,
            "last_active_at": now,
            "expires_at": info.expires_at,
        }
        recorded = [created, *(events(info) if events is not None else ())]
        if also is None:
            await insert_all(
                self._engine, [(_INSERT_SESSION, [row]), audit_rows(recorded), *writes]
            )
            return secret, info
        async with begin_write(self._engine) as conn:
            await conn.execute(_INSERT_SESSION, row)
            for statement, params in writes:
                await conn.execute(statement, list(params))
            await also(conn)
            await self._audit.record_all(recorded, conn)
        return secret, info

    async def get(self, session_id: str) -> SessionInfo | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(sessions).where(sessions.c.id == session_id))).first()
        return _info(row) if row is not None else None

    async def list(
        self, user_id: str, include_inactive: bool = False
    ) -> builtins.list[SessionInfo]:
        """The user's sessions, newest first; revoked and expired ones only when asked."""
        query = (
            select(sessions)
            .where(sessions.c.user_id == user_id)
            .order_by(sessions.c.created_at.desc(), sessions.c.id)
        )
        if not include_inactive:
            query = query.where(
                sessions.c.revoked_at.is_(None), sessions.c.expires_at > datetime.now(UTC)
            )
        async with self._engine.connect() as conn:
            return [_info(r) for r in await conn.execute(query)]

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
        now = datetime.now(UTC)
        async with begin_write(self._engine) as conn:
            done = await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                .values(active_org_id=resolved)
            )
            if done.rowcount != 1:
                raise TokenError("session-revoked", "session has ended (signed out or revoked)")
            await self._audit.record(
                AuditEvent(
                    "session.active_org_changed",
                    now,
                    actor=actor,
                    subject=current.user_id,
                    detail={
                        "session_id": session_id,
                        "from": current.active_org_id,
                        "to": resolved,
                    },
                ),
                conn,
            )
        return _replace_org(current, resolved)

    async def revoke(self, session_id: str, *, actor: str | None = None) -> bool:
        """End one session: its tokens are refused at once here, within cache_refresh_seconds
        by other processes, and its secret mints no more. False when unknown or already ended."""
        now = datetime.now(UTC)
        async with begin_write(self._engine) as conn:
            row = (
                await conn.execute(
                    select(sessions.c.user_id, sessions.c.expires_at).where(
                        sessions.c.id == session_id
                    )
                )
            ).first()
            if row is None:
                return False
            self._note_revoked({session_id: row.expires_at.timestamp()})
            done = await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if done.rowcount != 1:
                return False
            await self._audit.record(
                AuditEvent(
                    "session.revoked",
                    now,
                    actor=actor,
                    subject=row.user_id,
                    detail={"session_ids": [session_id]},
                ),
                conn,
            )
        return True

    async def revoke_all(
        self, user_id: str, *, except_session: str | None = None, actor: str | None = None
    ) -> int:
        """Sign the user out everywhere (but ``except_session``, to keep the current one).
        Returns how many sessions ended."""
        now = datetime.now(UTC)
        async with begin_write(self._engine) as conn:
            query = select(sessions.c.id, sessions.c.expires_at).where(
                sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)
            )
            if except_session is not None:
                query = query.where(sessions.c.id != except_session)
            live = {r.id: r.expires_at.timestamp() for r in await conn.execute(query)}
            if not live:
                return 0
            self._note_revoked(live)
            await conn.execute(
                update(sessions)
                .where(sessions.c.id.in_(list(live)), sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            await self._audit.record(
                AuditEvent(
                    "session.revoked",
                    now,
                    actor=actor,
                    subject=user_id,
                    detail={"session_ids": sorted(live), "all": True},
                ),
                conn,
            )
        return len(live)

    async def session_of(self, secret: str) -> SessionInfo:
        """The session whose secret this is, active or not; ``session-invalid`` when none."""
        if not _is_secret(secret):
            raise TokenError("session-invalid", "not a session secret")
        digest = opaque.digest(secret)
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(sessions).where(sessions.c.digest == digest))).first()
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
        query = (
            select(sessions, memberships.c.role.label("member_role"))
            .outerjoin(
                memberships,
                and_(
                    memberships.c.org_id == sessions.c.active_org_id,
                    memberships.c.user_id == sessions.c.user_id,
                ),
            )
            .where(sessions.c.digest == digest)
        )
        async with begin_write(self._engine) as conn:
            row = (await conn.execute(query)).first()
            # The index found the row; the digest itself is still compared in constant time.
            if row is None or not hmac.compare_digest(row.digest, digest):
                raise TokenError("session-invalid", "unknown session")
            info = _info(row)
            self._check_active(info, now)
            await conn.execute(
                update(sessions).where(sessions.c.id == info.id).values(last_active_at=now)
            )
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

    async def verify_token(self, token: str) -> SessionAuth:
        """What a session token stands for, or :class:`TokenError`. Cached tokens of cached
        sessions complete without I/O."""
        if token.startswith(SESSION_SECRET_PREFIX):
            raise TokenError(
                "token-invalid",
                "a session secret is not a session token: exchange it at POST /v1/sessions/token",
            )
        verified, _ = self._tokens.verify_now(token) or await self._tokens.verify_jwt(token)
        auth: SessionAuth = verified.derived["session"]
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
        async with self._engine.connect() as conn:
            published = await self._keys.published(datetime.now(UTC), conn)
            revoked = [
                r.id
                for r in await conn.execute(
                    select(sessions.c.id).where(sessions.c.revoked_at >= since)
                )
            ]
        for sid in revoked:
            state = self._states.get(sid)
            if state is not None and not state.revoked:
                self._states[sid] = _State(state.user_id, state.expires_ts, True)
        self._feed_from = started - _FEED_OVERLAP
        self._revoked_here = {s: exp for s, exp in self._revoked_here.items() if exp > started}
        return _KeyView({k.kid: verify_key_from_jwk(k.public_jwk) for k in published})

    async def _load_state(self, session_id: str) -> _State | None:
        query = select(sessions.c.user_id, sessions.c.expires_at, sessions.c.revoked_at).where(
            sessions.c.id == session_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
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

    def _check_token(self, verified: VerifiedToken) -> None:
        claims = verified.claims
        check_session_ids(claims)
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
        verified.derived["session"] = auth

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


def _replace_org(info: SessionInfo, org_id: str | None) -> SessionInfo:
    return SessionInfo(
        id=info.id,
        user_id=info.user_id,
        active_org_id=org_id,
        claims=info.claims,
        ip=info.ip,
        user_agent=info.user_agent,
        created_at=info.created_at,
        last_active_at=info.last_active_at,
        expires_at=info.expires_at,
        revoked_at=info.revoked_at,
    )


def _auth_key(claims: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A key equal only for claims :func:`_auth` turns into equal answers: every claim but the
    times, each a string, a boolean or a list of them (``True == 1`` would otherwise let one
    token's answer stand for another's); ``None`` when some claim is anything else."""
    key = []
    for name, value in claims.items():
        kind = type(value)
        if kind is str or kind is bool:
            key.append((name, value))
        elif kind is list:
            for item in value:
                if type(item) is not str and type(item) is not bool:
                    return None
            key.append((name, tuple(value)))
        elif name != "iat" and name != "exp":  # SessionAuth does not carry them
            return None
    return tuple(key)


def _auth(claims: Mapping[str, Any]) -> SessionAuth:
    org_id, role, permissions = (
        claims.get("org_id"),
        claims.get("org_role"),
        claims.get("org_permissions"),
    )
    if org_id is not None and not isinstance(org_id, str):
        raise TokenError("token-invalid", "org_id must be a string")
    if role is not None and not isinstance(role, str):
        raise TokenError("token-invalid", "org_role must be a string")
    if permissions is None:
        permissions = []
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise TokenError("token-invalid", "org_permissions must be a list of strings")
    return SessionAuth(
        user_id=claims["sub"],
        session_id=claims["sid"],
        org_id=org_id,
        org_role=role,
        org_permissions=tuple(permissions),
        session_claims=_frozen_claims(claims),
    )


# -- HTTP ---------------------------------------------------------------------------------------

_MAX_BODY = 8192
_NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, error: str, message: str, reason: str | None = None) -> JSONResponse:
    body = {"error": error, "message": message}
    if reason is not None:
        body["reason"] = reason
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


def session_routes(aw: Authward, *, prefix: str = "/v1/sessions") -> builtins.list[BaseRoute]:
    """``POST {prefix}/token``: exchange the session secret (the ``__session_secret`` cookie,
    or ``{"session_secret": ...}`` in a JSON body) for a fresh session token. The answer is
    ``{"token", "expires_at", "session_id", "org_id"}`` and sets the ``__session`` cookie to the
    token (HttpOnly, SameSite=Lax, Secure over https). An optional ``"active_org_id"`` in the
    body first switches the session's active organization (the user must be a member).

    Refusals: 400 ``invalid_request``, 401 ``invalid_session`` (with ``reason``; both cookies are
    cleared), 403 ``not_a_member``."""

    async def mint_endpoint(request: Request) -> JSONResponse:
        body: dict[str, Any] = {}
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            return _error(400, "invalid_request", "request body is too large")
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                return _error(400, "invalid_request", "the body must be a JSON object")
            if not isinstance(parsed, dict):
                return _error(400, "invalid_request", "the body must be a JSON object")
            body = parsed
        secret = body.get("session_secret", request.cookies.get(SECRET_COOKIE))
        if not isinstance(secret, str) or not secret:
            return _error(
                400,
                "invalid_request",
                f"no session secret: send the {SECRET_COOKIE} cookie or a session_secret",
            )
        org = body.get("active_org_id")
        if org is not None and not isinstance(org, str):
            return _error(400, "invalid_request", "active_org_id must be a string")
        sessions_ = aw.sessions
        try:
            if "active_org_id" in body:
                current = await sessions_.session_of(secret)
                await sessions_.set_active_org(current.id, org, actor=current.user_id)
            minted = await sessions_.mint(secret)
        except TokenError as exc:
            response = _error(401, "invalid_session", str(exc), exc.reason)
            response.delete_cookie(SESSION_COOKIE, path="/")
            response.delete_cookie(SECRET_COOKIE, path="/")
            return response
        except OrganizationError as exc:
            return _error(403, "not_a_member", str(exc))
        response = JSONResponse(
            {
                "token": minted.token,
                "expires_at": minted.expires_at,
                "session_id": minted.session_id,
                "org_id": minted.org_id,
            },
            headers=_NO_STORE,
        )
        response.set_cookie(
            SESSION_COOKIE,
            minted.token,
            max_age=sessions_.token_lifetime_seconds,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
        return response

    return [Route(f"{prefix}/token", mint_endpoint, methods=["POST"])]
