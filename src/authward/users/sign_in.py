"""Password sign-in: the attempt counted before the hash, one refusal for every failure, and a
success written in one store call (decisions 025, 032 and 037).

A sign-in makes two store calls: :meth:`~authward.users.ports.UserStorePort.take_attempt` (the
attempt counted and the user read, one hand-off on SQLite) before the hash, and
:meth:`~authward.users.ports.UserStorePort.record_login` or ``record_refusal`` after it (one
hand-off on SQLite, committed before the caller hears of it).
"""

from __future__ import annotations

__all__ = ["PasswordSignIn"]

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authward.observability import metrics
from authward.store.audit import AuditEvent
from authward.store.users import Rehash
from authward.users.errors import InvalidCredentials, LoginThrottled
from authward.users.passwords import Passwords
from authward.users.ports import UserSessions, UserStorePort
from authward.users.throttle import LoginThrottle, ThrottleKeys
from authward.users.values import SignIn, UserAccount, account_of, could_be_username


@dataclass(frozen=True, slots=True)
class _Verified:
    """Credentials that matched, and what recording the sign-in must write."""

    account: UserAccount
    #: The attempt was counted against these before the password was checked.
    keys: ThrottleKeys
    #: The hash that matched replaced by one with the current parameters, if it had others.
    rehash: Rehash | None
    at: datetime


class PasswordSignIn:
    """What :meth:`Users.authenticate` and :meth:`Users.sign_in` run."""

    def __init__(
        self,
        store: UserStorePort,
        sessions: UserSessions,
        passwords: Passwords,
        throttle: LoginThrottle,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._passwords = passwords
        self._throttle = throttle
        self._clock = clock

    async def authenticate(self, username: str, password: str, *, ip: str | None) -> UserAccount:
        verified = await self._verify(username, password, ip)
        # Written before returning, so the next attempt sees the account's count cleared.
        await self._record(verified, [self._login_event(verified, ip)])
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
        verified = await self._verify(username, password, ip)
        user_id = verified.account.id
        made = self._sessions.new(
            user_id, claims={"amr": ["pwd"]}, ip=ip, user_agent=user_agent, actor=user_id
        )
        login = self._login_event(
            verified, ip, client_id=client_id, session_id=made.info.id, method="pwd"
        )
        await self._record(verified, [made.created, login], session=made.row)
        return SignIn(verified.account, made.info, made.secret)

    async def _record(
        self,
        verified: _Verified,
        events: list[AuditEvent],
        session: Mapping[str, Any] | None = None,
    ) -> None:
        """The success's writes, one store call: the account's failures cleared, the address's
        attempt given back, an outdated hash replaced, and the session if one was started."""
        await self._store.record_login(
            events,
            cleared=verified.keys.account,
            returned=verified.keys.address,
            rehash=verified.rehash,
            session=session,
        )

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
        # (check_username), and PostgreSQL would refuse one in the query.
        known = could_be_username(username)
        taken = await self._store.take_attempt(keys.all, now, username if known else None)
        row = taken.read
        subject = str(row.id) if row is not None else None
        if not taken.granted:
            retry_after = taken.retry_after_seconds(now)
            throttled = AuditEvent(
                "user.login_throttled",
                now,
                subject=subject,
                ip=ip,
                detail={"retry_after_seconds": retry_after},
            )
            await self._store.record_refusal(throttled, prune=None)
            metrics.login("locked")
            metrics.rate_limited("login")
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
            await self._store.record_refusal(failed, prune=now)
            metrics.login("failed")
            raise InvalidCredentials()
        assert row is not None
        assert stored is not None
        rehash = None
        if self._passwords.needs_rehash(stored):
            rehash = Rehash(str(row.id), stored, await self._passwords.hash(password), now)
        metrics.login("succeeded")
        return _Verified(account_of(row), keys, rehash, now)

    @staticmethod
    def _login_event(
        verified: _Verified, ip: str | None, *, client_id: str | None = None, **detail: object
    ) -> AuditEvent:
        if verified.rehash is not None:
            detail["rehashed"] = True
        return AuditEvent(
            "user.login",
            verified.at,
            subject=verified.account.id,
            client_id=client_id,
            ip=ip,
            detail=detail,
        )
