"""Sign-in throttling per account and per address, kept in the database so every server process
sharing it applies the same limits (docs/decisions/010-passwords-and-login-throttling.md, 037).

Each attempt is counted against its keys (the username as typed, and the client address) before
its password is checked (:class:`authward.store.limits.Attempts`): at most ``threshold``
guesses per key reach the hash before the key is locked, however many arrive at once. A success
clears the account's count and gives the address its attempt back.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_POLICY",
    "IP_POLICY",
    "LoginThrottle",
    "ThrottleKeys",
    "ThrottlePolicy",
    "address_key",
    "login_policies",
]

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from authward.settings import Settings
from authward.store.direct import Query, Rows
from authward.store.limits import Attempts, LimitKey, LimitPolicy, Taken, limit_key

ThrottlePolicy = LimitPolicy

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


def login_policies(settings: Settings) -> tuple[ThrottlePolicy, ThrottlePolicy]:
    """The account's and the address's policies, from the ``AUTHWARD_LOGIN_*`` settings."""
    lock = timedelta(seconds=settings.login_lock_seconds)
    window = timedelta(seconds=settings.login_window_seconds)
    return (
        ThrottlePolicy(settings.login_account_limit, window, lock, window),
        ThrottlePolicy(settings.login_address_limit, window, lock, window),
    )


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


@dataclass(frozen=True, slots=True)
class ThrottleKeys:
    account: LimitKey
    address: LimitKey | None

    @property
    def all(self) -> list[LimitKey]:
        return [self.account] if self.address is None else [self.account, self.address]


class LoginThrottle:
    def __init__(
        self,
        engine: AsyncEngine,
        account_policy: ThrottlePolicy = ACCOUNT_POLICY,
        ip_policy: ThrottlePolicy = IP_POLICY,
    ) -> None:
        self._account = account_policy
        self._ip = ip_policy
        self._attempts = Attempts(engine, {"account": account_policy, "ip": ip_policy})

    def keys(self, username: str, ip: str | None) -> ThrottleKeys:
        address = limit_key("ip", address_key(ip), self._ip) if ip else None
        return ThrottleKeys(limit_key("account", username, self._account), address)

    async def take(self, keys: ThrottleKeys, now: datetime, *, then: Query) -> Taken:
        """Count the attempt before its password is checked (one statement), or refuse it;
        ``then`` (the user) is read in the same hand-off on SQLite."""
        return await self._attempts.take(keys.all, now, then=then)

    def success_rows(self, keys: ThrottleKeys) -> Rows:
        """A success forgets the account's failures and gives the address its attempt back."""
        return self._attempts.give_back_rows(keys.account, keys.address)

    def prune_rows(self, now: datetime) -> Rows:
        return self._attempts.prune_rows(now)
