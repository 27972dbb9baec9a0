"""``Users``: local accounts (``aw_users``) with their profile records, and password sign-in.

    account = await aw.users.create("alice@example.com", "correct horse", profile={...})
    account = await aw.users.authenticate("alice@example.com", "correct horse", ip="203.0.113.9")
    signed_in = await aw.users.sign_in("alice@example.com", "correct horse", ip="203.0.113.9")
    claims = await aw.users.claims(account.id)

A user is a row in ``aw_users`` (its id is the OAuth ``sub`` and the session ``user_id``) linked
to a record of the app's ``user_profile`` type, whose ``username_field`` holds the username. The
profile record is written through :class:`~authward.store.type_records.Records`, so the type's
hooks and validators apply. Passwords are argon2id hashes (:mod:`authward.users.passwords`);
sign-in attempts are throttled per account and per address (:mod:`authward.users.throttle`).
"""

from __future__ import annotations

__all__ = ["OAuthTokenSource", "SignIn", "UserAccount", "UserClaims", "Users"]

import asyncio
import builtins
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from time import monotonic
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from argon2 import PasswordHasher
from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.config.app import Config
from authward.errors import RecordError
from authward.principal import Principal
from authward.store.audit import AuditEvent, AuditStore, audit_rows
from authward.store.direct import insert_all
from authward.store.engine import begin_write
from authward.store.schema import users
from authward.store.type_records import Records
from authward.users.errors import (
    InvalidCredentials,
    LoginThrottled,
    UnknownUser,
    UserError,
    UsernameTaken,
)
from authward.users.passwords import Passwords, check_password
from authward.users.throttle import (
    ACCOUNT_POLICY,
    IP_POLICY,
    LoginThrottle,
    ThrottleKeys,
    ThrottlePolicy,
)

if TYPE_CHECKING:
    from authward.connections.values import OAuthAccessToken
    from authward.identity.sessions import SessionInfo, Sessions


_MAX_USERNAME = 320  # the longest email address


class OAuthTokenSource(Protocol):
    """What users need of the connected-accounts vault (``aw.connections``)."""

    async def get_oauth_access_token(
        self, account_id: str, provider: str
    ) -> builtins.list[OAuthAccessToken]: ...


@dataclass(frozen=True, slots=True)
class UserAccount:
    id: str
    username: str
    profile_id: str | None
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserClaims:
    user_id: str
    username: str
    #: The profile record, JSON-safe (uuids and datetimes as strings).
    profile: dict[str, Any]
    #: The profile's fields enabled in ``user_profile.attributes``.
    attribute_map: dict[str, Any]
    #: Values of the ``user_profile.attribute_list`` fields, as UUID strings (empty ones dropped).
    attribute_list: list[str]
    email: str | None
    email_verified: bool
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class SignIn:
    """A password sign-in that started a browser session (:meth:`Users.sign_in`)."""

    account: UserAccount
    session: SessionInfo
    #: For the browser's ``__session_secret`` cookie; only its digest is stored.
    secret: str


@dataclass(frozen=True, slots=True)
class _Verified:
    """Credentials that matched, and what recording the sign-in must write."""

    account: UserAccount
    #: The attempt was counted against these before the password was checked.
    keys: ThrottleKeys
    #: The hash that matched; a rehash replaces only this one.
    stored: str
    #: The password hashed with the current parameters, when ``stored`` has others.
    rehashed: str | None
    at: datetime


#: Users whose claims one process keeps (userinfo and token issuance read them per request).
_MAX_CACHED_CLAIMS = 10_000


#: The user of a sign-in attempt, built once.
_SIGN_IN_READ = select(users).where(users.c.username == bindparam("username"))


def _now() -> datetime:
    return datetime.now(UTC)


def _account(row: Row[Any]) -> UserAccount:
    return UserAccount(
        id=str(row.id),
        username=row.username,
        profile_id=str(row.profile_id) if row.profile_id is not None else None,
        disabled=row.disabled,
        created_at=row.created_at,
    )


def _could_be_username(username: object) -> bool:
    """Whether a username given at sign-in or lookup can be in the store at all."""
    return (
        isinstance(username, str) and 0 < len(username) <= _MAX_USERNAME and "\x00" not in username
    )


def _check_username(username: str) -> None:
    if not isinstance(username, str) or not username:
        raise UserError("the username must be a non-empty string")
    if username != username.strip() or not username.isprintable():
        raise UserError("the username cannot have surrounding spaces or control characters")
    if len(username) > _MAX_USERNAME:
        raise UserError(f"the username must be at most {_MAX_USERNAME} characters")


def _json_safe(value: object) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


class Users:
    """Local users. ``hasher`` defaults to argon2id with OWASP parameters; tests pass a cheaper
    one (never do that in production). ``clock`` lets tests move time for the throttle."""

    def __init__(
        self,
        engine: AsyncEngine,
        config: Config,
        *,
        audit: AuditStore,
        sessions: Sessions,
        vault: OAuthTokenSource | None = None,
        hasher: PasswordHasher | None = None,
        account_policy: ThrottlePolicy = ACCOUNT_POLICY,
        ip_policy: ThrottlePolicy = IP_POLICY,
        clock: Callable[[], datetime] = _now,
        claims_ttl_seconds: float = 2.0,
        end_grants: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        """``end_grants(user_id)`` revokes what a user granted once it is disabled (as Keycloak
        does for offline tokens)."""
        self._engine = engine
        # Claims are read on every userinfo call: kept for as long as the runtime's other views
        # (settings.cache_refresh_seconds), so another process's change shows within that time.
        self._claims_ttl = claims_ttl_seconds
        self._claims_cache: dict[str, tuple[float, UserClaims | None]] = {}
        self._claims_loading: dict[str, asyncio.Future[UserClaims | None]] = {}
        # Bumped by every local change to a user, so a load that raced with it is not cached.
        self._claims_epoch = 0
        self._end_grants = end_grants
        self._profile = config.auth.user_profile
        self._records = Records(self._profile.type, engine) if self._profile is not None else None
        self._audit = audit
        self._sessions = sessions
        self._passwords = Passwords(hasher)
        self._throttle = LoginThrottle(engine, account_policy, ip_policy)
        self._clock = clock
        self._vault = vault

    # -- managing -------------------------------------------------------------------------------

    async def create(
        self,
        username: str,
        password: str | None,
        *,
        profile: Mapping[str, Any] | None = None,
        email_verified: bool = False,
        actor: Principal | None = None,
    ) -> UserAccount:
        """A new user and its profile record (``username_field`` set to ``username``), acting
        as ``actor`` for the type's hooks and validators. ``password=None``: no local password
        (users who sign in through an external IdP)."""
        _check_username(username)
        password_hash = None
        if password is not None:
            check_password(password)
            password_hash = await self._passwords.hash(password)
        if await self.find(username) is not None:
            raise UsernameTaken(username)
        profile_id = await self._create_profile(username, profile, actor)
        now = self._clock()
        user_id = uuid.uuid4()
        try:
            async with begin_write(self._engine) as conn:
                await conn.execute(
                    users.insert().values(
                        id=user_id,
                        username=username,
                        profile_id=profile_id,
                        password_hash=password_hash,
                        disabled=False,
                        email_verified=email_verified,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await self._audit.record(
                    AuditEvent(
                        "user.created",
                        now,
                        actor=actor.subject if actor is not None else None,
                        subject=str(user_id),
                        detail={"username": username, "password": password is not None},
                    ),
                    conn,
                )
        except BaseException as exc:
            # Records.create commits on its own (hooks and validators run there), so the
            # profile record is undone here rather than rolled back with the user row.
            if profile_id is not None and self._records is not None:
                await self._records.delete(profile_id)
            if isinstance(exc, IntegrityError):
                raise UsernameTaken(username) from None
            raise
        return UserAccount(str(user_id), username, _str(profile_id), False, now)

    async def _create_profile(
        self, username: str, given: Mapping[str, Any] | None, actor: Principal | None
    ) -> UUID | None:
        if self._profile is None or self._records is None:
            if given:
                raise UserError("the app defines no user_profile, so a user has no profile")
            return None
        field = self._profile.username_field
        values = dict(given or {})
        if field in values and values[field] != username:
            raise RecordError(
                self._profile.type.name, field, "is the username: give it as the username only"
            )
        values[field] = username
        try:
            record = await self._records.create(values, user=actor)
        except RecordError as exc:
            # Lost a race with another create of the same username.
            if exc.field == field and await self.find(username) is not None:
                raise UsernameTaken(username) from None
            raise
        record_id = record["id"]
        assert isinstance(record_id, UUID)
        return record_id

    async def get(self, user_id: str) -> UserAccount | None:
        try:
            key = UUID(str(user_id))
        except ValueError:
            return None
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == key))).first()
        return _account(row) if row is not None else None

    async def find(self, username: str) -> UserAccount | None:
        if not _could_be_username(username):
            return None
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.username == username))).first()
        return _account(row) if row is not None else None

    async def list(self) -> builtins.list[UserAccount]:
        query = select(users).order_by(users.c.created_at, users.c.username)
        async with self._engine.connect() as conn:
            return [_account(r) for r in await conn.execute(query)]

    async def disable(self, username: str, *, actor: str | None = None) -> UserAccount:
        """Refuse the user's sign-ins, end its browser sessions and revoke its grants at once."""
        account = await self._set_disabled(username, True, actor)
        await self._sessions.revoke_all(account.id, actor=actor)
        if self._end_grants is not None:
            await self._end_grants(account.id)
        return account

    async def enable(self, username: str, *, actor: str | None = None) -> UserAccount:
        return await self._set_disabled(username, False, actor)

    async def _set_disabled(self, username: str, disabled: bool, actor: str | None) -> UserAccount:
        now = self._clock()
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(users)
                .where(users.c.username == username)
                .values(disabled=disabled, updated_at=now)
                .returning(*users.c)
            )
            row = result.first()
            if row is None:
                raise UnknownUser(username)
            kind = "user.disabled" if disabled else "user.enabled"
            await self._audit.record(AuditEvent(kind, now, actor=actor, subject=str(row.id)), conn)
        self._forget_claims(str(row.id))
        return _account(row)

    async def set_password(self, username: str, password: str, *, actor: str | None = None) -> None:
        check_password(password)
        password_hash = await self._passwords.hash(password)
        now = self._clock()
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(users)
                .where(users.c.username == username)
                .values(password_hash=password_hash, updated_at=now)
                .returning(users.c.id)
            )
            user_id = result.scalar_one_or_none()
            if user_id is None:
                raise UnknownUser(username)
            await self._audit.record(
                AuditEvent("user.password_set", now, actor=actor, subject=str(user_id)), conn
            )

    # -- signing in -----------------------------------------------------------------------------

    async def authenticate(self, username: str, password: str, *, ip: str | None) -> UserAccount:
        """The account these credentials sign in as, or :class:`InvalidCredentials` (the same
        for an unknown user, a wrong password and a disabled user) or :class:`LoginThrottled`."""
        verified = await self._verify(username, password, ip)
        event = self._login_event(verified, ip)
        if verified.rehashed is None:
            # The common case: the throttle's release and the audit row, one hand-off on SQLite.
            # Written before returning, so the next attempt sees the account's count cleared.
            await insert_all(
                self._engine, [self._throttle.success_rows(verified.keys), audit_rows([event])]
            )
            return verified.account
        async with begin_write(self._engine) as conn:
            await self._record_login(conn, verified, event)
        return verified.account

    async def sign_in(
        self,
        username: str,
        password: str,
        *,
        ip: str | None,
        user_agent: str | None = None,
        client_id: str | None = None,
    ) -> SignIn:
        """:meth:`authenticate`, then a browser session for the account (``amr: pwd``). The
        session, its ``session.created`` row and the sign-in's own writes (``user.login`` with
        the session id and ``client_id``, a throttle reset, a rehash) are one transaction, all
        committed before this returns."""
        verified = await self._verify(username, password, ip)
        user_id = verified.account.id

        def login(session: SessionInfo) -> list[AuditEvent]:
            event = self._login_event(
                verified, ip, client_id=client_id, session_id=session.id, method="pwd"
            )
            return [event]  # recorded with session.created, in one statement

        async def writes(conn: AsyncConnection) -> None:
            await self._record_login_writes(conn, verified)

        secret, session = await self._sessions.create(
            user_id,
            claims={"amr": ["pwd"]},
            ip=ip,
            user_agent=user_agent,
            actor=user_id,
            events=login,
            # The attempt counted before the hash is given back in the session's transaction.
            writes=[self._throttle.success_rows(verified.keys)],
            # Most sign-ins keep their hash: no statement built per call.
            also=writes if verified.rehashed is not None else None,
        )
        return SignIn(verified.account, session, secret)

    async def _verify(self, username: str, password: str, ip: str | None) -> _Verified:
        """Check the credentials. A failure or a throttled attempt is recorded and raised here;
        a success is left for the caller to record (``user.login``, the throttle's release, a
        rehash)."""
        now = self._clock()
        keys = self._throttle.keys(username, ip)
        # Counted before the hash (one statement), so concurrent guesses in any process cannot
        # all pass the throttle before the first failure is recorded (decision 037).
        # The user is read right after, in the same hand-off on SQLite. A NULL username matches
        # no user: the same statements for every attempt. No username holds a NUL
        # (_check_username), and PostgreSQL would refuse one in the query.
        known = _could_be_username(username)
        read = (_SIGN_IN_READ, {"username": username if known else None})
        taken = await self._throttle.take(keys, now, then=read)
        row = taken.read
        subject = str(row.id) if row is not None else None
        if not taken.granted:
            retry_after = taken.retry_after_seconds(now)
            await self._audit.record(
                AuditEvent(
                    "user.login_throttled",
                    now,
                    subject=subject,
                    ip=ip,
                    detail={"retry_after_seconds": retry_after},
                )
            )
            raise LoginThrottled(retry_after)
        stored = row.password_hash if row is not None else None
        matches = await self._passwords.verify(stored, password) and stored is not None
        reason = None
        if row is None:
            reason = "unknown_user"
        elif stored is None:
            reason = "no_password"
        elif not matches:
            reason = "wrong_password"
        elif row.disabled:
            reason = "disabled"
        if reason is not None:
            # The failure was counted before the hash; expired counts go with its audit row.
            failed = AuditEvent(
                "user.login_failed", now, subject=subject, ip=ip, detail={"reason": reason}
            )
            await insert_all(self._engine, [audit_rows([failed]), self._throttle.prune_rows(now)])
            raise InvalidCredentials()
        assert row is not None
        assert stored is not None
        rehashed = None
        if self._passwords.needs_rehash(stored):
            rehashed = await self._passwords.hash(password)
        return _Verified(_account(row), keys, stored, rehashed, now)

    @staticmethod
    def _login_event(
        verified: _Verified, ip: str | None, *, client_id: str | None = None, **detail: object
    ) -> AuditEvent:
        if verified.rehashed is not None:
            detail["rehashed"] = True
        return AuditEvent(
            "user.login",
            verified.at,
            subject=verified.account.id,
            client_id=client_id,
            ip=ip,
            detail=detail,
        )

    async def _record_login(
        self, conn: AsyncConnection, verified: _Verified, event: AuditEvent
    ) -> None:
        await self._record_login_writes(conn, verified)
        await self._audit.record(event, conn)

    async def _record_login_writes(self, conn: AsyncConnection, verified: _Verified) -> None:
        """What a success changes besides its audit row: the account's failures are cleared,
        the address's attempt given back, an outdated hash replaced."""
        statement, [params] = self._throttle.success_rows(verified.keys)
        await conn.execute(statement, params)
        if verified.rehashed is not None:
            await conn.execute(
                update(users)
                .where(
                    users.c.id == UUID(verified.account.id),
                    users.c.password_hash == verified.stored,
                )
                .values(password_hash=verified.rehashed, updated_at=verified.at)
            )

    async def get_oauth_access_token(
        self, account_id: str, provider: str
    ) -> builtins.list[OAuthAccessToken]:
        """The account's third-party tokens for ``provider`` ("oauth_slack"), ``[]`` when it has
        not connected one: Clerk's ``users.getUserOauthAccessToken``.

        See docs/connected-accounts.md."""
        if self._vault is None:
            raise UserError("the connected-accounts vault is not open")
        return await self._vault.get_oauth_access_token(account_id, provider)

    # -- claims ---------------------------------------------------------------------------------

    async def claims(self, user_id: str) -> UserClaims | None:
        """What tokens and userinfo say about the user: its profile, attributes and whether it is
        disabled. Cached per process for ``claims_ttl_seconds``."""
        hit = self._claims_cache.get(user_id)
        if hit is not None and monotonic() - hit[0] < self._claims_ttl:
            return hit[1]
        # One load per user at a time: when an entry expires under load, every request for that
        # user would otherwise read the database at once.
        loading = self._claims_loading.get(user_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load_and_cache(user_id))
            self._claims_loading[user_id] = loading
            loading.add_done_callback(lambda done: self._loaded(user_id, done))
        return await asyncio.shield(loading)

    def _loaded(self, user_id: str, done: asyncio.Future[UserClaims | None]) -> None:
        if self._claims_loading.get(user_id) is done:
            del self._claims_loading[user_id]

    def _forget_claims(self, user_id: str) -> None:
        self._claims_epoch += 1
        self._claims_cache.pop(user_id, None)
        self._claims_loading.pop(user_id, None)

    async def _load_and_cache(self, user_id: str) -> UserClaims | None:
        started, epoch = monotonic(), self._claims_epoch
        value = await self._load_claims(user_id)
        if self._claims_ttl > 0 and epoch == self._claims_epoch:
            self._claims_cache.pop(user_id, None)
            if len(self._claims_cache) >= _MAX_CACHED_CLAIMS:
                del self._claims_cache[next(iter(self._claims_cache))]
            self._claims_cache[user_id] = (started, value)
        return value

    async def _load_claims(self, user_id: str) -> UserClaims | None:
        try:
            key = UUID(str(user_id))
        except ValueError:
            return None
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == key))).first()
        if row is None:
            return None
        record: Mapping[str, object] = {}
        if row.profile_id is not None and self._records is not None:
            record = await self._records.get(row.profile_id) or {}
        profile = {name: _json_safe(v) for name, v in record.items()}
        attribute_map: dict[str, Any] = {}
        attribute_list: builtins.list[str] = []
        email = None
        if self._profile is not None and profile:
            attribute_map = {a: profile.get(a) for a in self._profile.attributes}
            attribute_list = [
                str(profile[f]) for f in self._profile.attribute_list if profile.get(f) is not None
            ]
            if "email" in self._profile.type.fields and isinstance(profile.get("email"), str):
                email = profile["email"]
        return UserClaims(
            user_id=str(row.id),
            username=row.username,
            profile=profile,
            attribute_map=attribute_map,
            attribute_list=attribute_list,
            email=email,
            email_verified=bool(row.email_verified),
            disabled=bool(row.disabled),
        )


def _str(value: UUID | None) -> str | None:
    return str(value) if value is not None else None
