"""Sign-in throttling per account and per address, kept in the database so every server process
sharing it applies the same limits (docs/decisions/010-passwords-and-login-throttling.md, 037).

Each attempt is counted against its keys (the username as typed, and the client address) before
its password is checked (:meth:`authward.store.users.UserStore.take_attempt`): at most
``threshold`` guesses per key reach the hash before the key is locked, however many arrive at
once. A success clears the account's count and gives the address its attempt back. This module
holds the policies and the keys; the counting is the store's.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_POLICY",
    "DEFAULT_LOGIN_POLICIES",
    "IP_POLICY",
    "LoginLimitSettings",
    "LoginPolicies",
    "LoginThrottle",
    "ThrottleKeys",
    "ThrottlePolicy",
    "login_policies",
]

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from authward.store.limits import LimitKey, LimitPolicy, address_key, limit_key

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


@dataclass(frozen=True, slots=True)
class LoginPolicies:
    """How many sign-in attempts an account and an address may fail, and the locks after."""

    account: ThrottlePolicy = ACCOUNT_POLICY
    address: ThrottlePolicy = IP_POLICY


#: The ``AUTHWARD_LOGIN_*`` defaults.
DEFAULT_LOGIN_POLICIES = LoginPolicies()


class LoginLimitSettings(Protocol):
    """The settings the policies come from (``AUTHWARD_LOGIN_*``)."""

    @property
    def login_account_limit(self) -> int: ...
    @property
    def login_address_limit(self) -> int: ...
    @property
    def login_lock_seconds(self) -> int: ...
    @property
    def login_window_seconds(self) -> int: ...


def login_policies(settings: LoginLimitSettings) -> LoginPolicies:
    """The account's and the address's policies, from the ``AUTHWARD_LOGIN_*`` settings."""
    lock = timedelta(seconds=settings.login_lock_seconds)
    window = timedelta(seconds=settings.login_window_seconds)
    return LoginPolicies(
        ThrottlePolicy(settings.login_account_limit, window, lock, window),
        ThrottlePolicy(settings.login_address_limit, window, lock, window),
    )


@dataclass(frozen=True, slots=True)
class ThrottleKeys:
    account: LimitKey
    address: LimitKey | None

    @property
    def all(self) -> list[LimitKey]:
        return [self.account] if self.address is None else [self.account, self.address]


class LoginThrottle:
    """The keys an attempt is counted against, under the account's and the address's policy."""

    def __init__(self, policies: LoginPolicies) -> None:
        self._account = policies.account
        self._ip = policies.address

    def keys(self, username: str, ip: str | None) -> ThrottleKeys:
        address = limit_key("ip", address_key(ip), self._ip) if ip else None
        return ThrottleKeys(limit_key("account", username, self._account), address)
