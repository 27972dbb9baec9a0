"""``Users``: local accounts (``aw_users``) with their profile records, and password sign-in.

    account = await aw.users.create("alice@example.com", "correct horse", profile={...})
    account = await aw.users.authenticate("alice@example.com", "correct horse", ip="203.0.113.9")
    signed_in = await aw.users.sign_in("alice@example.com", "correct horse", ip="203.0.113.9")
    claims = await aw.users.claims(account.id)

A user is a row in ``aw_users`` (its id is the OAuth ``sub`` and the session ``user_id``) linked
to a record of the app's ``user_profile`` type, whose ``username_field`` holds the username. The
profile record is written through the type's records, so the type's hooks and validators apply.
Passwords are argon2id hashes (:mod:`authward.users.passwords`); sign-in attempts are throttled
per account and per address (:mod:`authward.users.throttle`, :mod:`authward.users.sign_in`).
The SQL is :class:`authward.store.users.UserStore`'s, behind :mod:`authward.users.ports`.
"""

from __future__ import annotations

__all__ = ["Users"]

import asyncio
import builtins
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, time
from time import monotonic
from typing import TYPE_CHECKING, Any
from uuid import UUID

from argon2 import PasswordHasher

from authward.config.auth import UserProfile
from authward.errors import RecordError
from authward.principal import Principal
from authward.store.audit import AuditEvent
from authward.users.errors import UnknownUser, UserError, UsernameTaken
from authward.users.passwords import Passwords, check_password
from authward.users.ports import OAuthTokenSource, ProfileRecords, UserSessions, UserStorePort
from authward.users.sign_in import PasswordSignIn
from authward.users.throttle import DEFAULT_LOGIN_POLICIES, LoginPolicies, LoginThrottle
from authward.users.values import (
    SignIn,
    UserAccount,
    UserClaims,
    account_of,
    check_username,
    could_be_username,
)

if TYPE_CHECKING:
    from authward.connections.values import OAuthAccessToken


#: Users whose claims one process keeps (userinfo and token issuance read them per request).
_MAX_CACHED_CLAIMS = 10_000


def _now() -> datetime:
    return datetime.now(UTC)


def _json_safe(value: object) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


class Users:
    """Local users, kept in ``store``. ``profile`` is the app's ``user_profile`` (None: users
    have no profile record) and ``profiles`` the records of its type. ``hasher`` defaults to
    argon2id with OWASP parameters; tests pass a cheaper one (never do that in production).
    ``login`` limits the sign-in attempts of an account and of an address.
    ``clock`` lets tests move time for the throttle."""

    def __init__(
        self,
        store: UserStorePort,
        *,
        sessions: UserSessions,
        profile: UserProfile | None = None,
        profiles: ProfileRecords | None = None,
        vault: OAuthTokenSource | None = None,
        hasher: PasswordHasher | None = None,
        login: LoginPolicies = DEFAULT_LOGIN_POLICIES,
        clock: Callable[[], datetime] = _now,
        claims_ttl_seconds: float = 2.0,
        end_grants: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        """``end_grants(user_id)`` revokes what a user granted once it is disabled (as Keycloak
        does for offline tokens)."""
        if (profile is None) != (profiles is None):
            raise ValueError("a user profile and the records of its type go together")
        self._store = store
        # Claims are read on every userinfo call: kept for as long as the runtime's other views
        # (settings.cache_refresh_seconds), so another process's change shows within that time.
        self._claims_ttl = claims_ttl_seconds
        self._claims_cache: dict[str, tuple[float, UserClaims | None]] = {}
        self._claims_loading: dict[str, asyncio.Future[UserClaims | None]] = {}
        # Bumped by every local change to a user, so a load that raced with it is not cached.
        self._claims_epoch = 0
        self._end_grants = end_grants
        self._profile = profile
        self._records = profiles
        self._sessions = sessions
        self._passwords = Passwords(hasher)
        self._clock = clock
        self._vault = vault
        self._sign_in = PasswordSignIn(
            store, sessions, self._passwords, LoginThrottle(login), clock
        )

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
        check_username(username)
        password_hash = None
        if password is not None:
            check_password(password)
            password_hash = await self._passwords.hash(password)
        if await self.find(username) is not None:
            raise UsernameTaken(username)
        profile_id = await self._create_profile(username, profile, actor)
        now = self._clock()
        user_id = uuid.uuid4()
        row = {
            "id": user_id,
            "username": username,
            "profile_id": profile_id,
            "password_hash": password_hash,
            "disabled": False,
            "email_verified": email_verified,
            "created_at": now,
            "updated_at": now,
        }
        created = AuditEvent(
            "user.created",
            now,
            actor=actor.subject if actor is not None else None,
            subject=str(user_id),
            detail={"username": username, "password": password is not None},
        )
        try:
            stored = await self._store.insert(row, created)
        except BaseException:
            await self._undo_profile(profile_id)
            raise
        if not stored:
            await self._undo_profile(profile_id)
            raise UsernameTaken(username)
        return UserAccount(str(user_id), username, _str(profile_id), False, now)

    async def _undo_profile(self, profile_id: UUID | None) -> None:
        # The profile record is committed on its own (hooks and validators run there), so it is
        # undone here rather than rolled back with the user row.
        if profile_id is not None and self._records is not None:
            await self._records.delete(profile_id)

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
        row = await self._store.get(key)
        return account_of(row) if row is not None else None

    async def find(self, username: str) -> UserAccount | None:
        if not could_be_username(username):
            return None
        row = await self._store.find(username)
        return account_of(row) if row is not None else None

    async def list(self) -> builtins.list[UserAccount]:
        return [account_of(r) for r in await self._store.list()]

    async def page(
        self, *, after: str | None, limit: int, contains: str | None = None
    ) -> builtins.list[UserAccount]:
        """Up to ``limit`` users by username, after the username ``after``; ``contains``: only
        usernames holding it, whatever its case."""
        rows = await self._store.page(after=after, limit=limit, contains=contains)
        return [account_of(r) for r in rows]

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
        kind = "user.disabled" if disabled else "user.enabled"

        def event(user_id: str) -> AuditEvent:
            return AuditEvent(kind, now, actor=actor, subject=user_id)

        row = await self._store.set_disabled(username, disabled, now, event)
        if row is None:
            raise UnknownUser(username)
        self._forget_claims(str(row.id))
        return account_of(row)

    async def set_password(self, username: str, password: str, *, actor: str | None = None) -> None:
        check_password(password)
        password_hash = await self._passwords.hash(password)
        now = self._clock()

        def event(user_id: str) -> AuditEvent:
            return AuditEvent("user.password_set", now, actor=actor, subject=user_id)

        if not await self._store.set_password(username, password_hash, now, event):
            raise UnknownUser(username)

    # -- signing in -----------------------------------------------------------------------------

    async def authenticate(self, username: str, password: str, *, ip: str | None) -> UserAccount:
        """The account these credentials sign in as, or :class:`InvalidCredentials` (the same
        for an unknown user, a wrong password and a disabled user) or :class:`LoginThrottled`.
        The sign-in's ``user.login`` row and the throttle's release are written before this
        returns."""
        return await self._sign_in.authenticate(username, password, ip=ip)

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
        return await self._sign_in.sign_in(
            username, password, ip=ip, user_agent=user_agent, client_id=client_id
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
        row = await self._store.get(key)
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
