"""Failed sign-in throttling per account and per address, kept in the database so every server
process sharing it applies the same limits (docs/decisions/010-passwords-and-login-throttling.md).

Each key (an account's username, or a client address) has a row counting its failures within a
window. From the ``threshold``-th failure on, the key is locked for a delay that doubles with each
further failure, up to ``max_delay``; a locked key refuses attempts without checking a password.
The count is forgotten ``window`` after the last failure (or after the lock ends).
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_POLICY",
    "IP_POLICY",
    "SUMMARY",
    "LoginThrottle",
    "ThrottleKey",
    "ThrottlePolicy",
    "ThrottleState",
]

import hashlib
import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from authward.store.schema import login_throttle

Scope = Literal["account", "ip"]


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    threshold: int
    window: timedelta
    first_delay: timedelta
    max_delay: timedelta

    def delay(self, failures: int) -> timedelta:
        """The lock after ``failures`` failures (none below the threshold)."""
        if failures < self.threshold:
            return timedelta(0)
        doublings = min(failures - self.threshold, 32)
        delay: timedelta = self.first_delay * 2**doublings
        return min(delay, self.max_delay)


#: 5 failures lock the account for 1 min, then 2, 4, 8, 15, 15... (about 100 guesses a day).
ACCOUNT_POLICY = ThrottlePolicy(
    threshold=5,
    window=timedelta(minutes=15),
    first_delay=timedelta(minutes=1),
    max_delay=timedelta(minutes=15),
)
#: An address may fail more (offices and NAT share one), but not spray passwords across accounts.
IP_POLICY = ThrottlePolicy(
    threshold=20,
    window=timedelta(minutes=15),
    first_delay=timedelta(minutes=1),
    max_delay=timedelta(minutes=15),
)


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    scope: Scope
    digest: str
    policy: ThrottlePolicy


@dataclass(frozen=True, slots=True)
class ThrottleState:
    #: Seconds until every lock on the attempt's keys ends; 0 when none is locked.
    retry_after_seconds: int
    #: The account key has failures on record (a success clears them).
    account_failures: bool


#: One row, whatever is stored: the latest lock among an attempt's keys (``account_key`` and
#: ``ip_key``, which is NULL for an attempt without an address, matching nothing) and when the
#: account's count expires. Joined to the user lookup, so a sign-in reads both in one statement.
#: Built once: constructing it per sign-in costs more CPU than running it.
SUMMARY = (
    select(
        func.max(login_throttle.c.locked_until).label("locked_until"),
        func.max(
            case(
                (
                    login_throttle.c.key == bindparam("account_key"),
                    login_throttle.c.window_until,
                )
            )
        ).label("account_window_until"),
    )
    .where(login_throttle.c.key.in_([bindparam("account_key"), bindparam("ip_key")]))
    .subquery("throttle")
)


def _digest(scope: Scope, value: str) -> str:
    return hashlib.sha256(f"{scope}\x00{value}".encode()).hexdigest()


def address_key(ip: str) -> str:
    """IPv6 clients get a /64 each, so one client is one /64, not 2**64 addresses."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class LoginThrottle:
    def __init__(
        self, account_policy: ThrottlePolicy = ACCOUNT_POLICY, ip_policy: ThrottlePolicy = IP_POLICY
    ) -> None:
        self._account = account_policy
        self._ip = ip_policy

    def keys(self, username: str, ip: str | None) -> list[ThrottleKey]:
        keys = [ThrottleKey("account", _digest("account", username), self._account)]
        if ip:
            keys.append(ThrottleKey("ip", _digest("ip", address_key(ip)), self._ip))
        return keys

    @staticmethod
    def summary_params(keys: Iterable[ThrottleKey]) -> dict[str, str | None]:
        """The bound values of :data:`SUMMARY` for ``keys``."""
        by_scope = {k.scope: k.digest for k in keys}
        return {"account_key": by_scope["account"], "ip_key": by_scope.get("ip")}

    @staticmethod
    def state(
        locked_until: datetime | None, account_window_until: datetime | None, now: datetime
    ) -> ThrottleState:
        """What :data:`SUMMARY` read, as of ``now``."""
        wait = (locked_until - now).total_seconds() if locked_until is not None else 0.0
        return ThrottleState(
            retry_after_seconds=max(0, math.ceil(wait)),
            account_failures=account_window_until is not None and account_window_until > now,
        )

    async def record_failure(
        self, conn: AsyncConnection, keys: Iterable[ThrottleKey], now: datetime
    ) -> None:
        """Count one failure against each key, locking those that reach their threshold. The
        increment is one upsert, so concurrent failures in any process all count."""
        t = login_throttle
        await conn.execute(delete(t).where(t.c.window_until < now))
        upsert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        for key in keys:
            policy = key.policy
            counted = (
                upsert(t)
                .values(
                    key=key.digest,
                    scope=key.scope,
                    failures=1,
                    window_until=now + policy.window,
                    locked_until=None,
                )
                .on_conflict_do_update(
                    index_elements=[t.c.key],
                    set_={
                        "failures": case((t.c.window_until <= now, 1), else_=t.c.failures + 1),
                        "window_until": now + policy.window,
                    },
                )
                .returning(t.c.failures)
            )
            failures = int((await conn.execute(counted)).scalar_one())
            lock = policy.delay(failures)
            if lock:
                await conn.execute(
                    update(t)
                    .where(t.c.key == key.digest)
                    .values(locked_until=now + lock, window_until=now + lock + policy.window)
                )

    async def clear_account(self, conn: AsyncConnection, keys: Iterable[ThrottleKey]) -> None:
        digests = [k.digest for k in keys if k.scope == "account"]
        await conn.execute(delete(login_throttle).where(login_throttle.c.key.in_(digests)))
