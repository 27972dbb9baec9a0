"""The settings of decision 037: trusted proxies are checked at start-up, and the login limits
become the throttle's policies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authward.errors import SettingsError
from authward.settings import load_settings
from authward.users.throttle import ACCOUNT_POLICY, IP_POLICY, LoginPolicies, login_policies


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert load_settings(trusted_proxies="127.0.0.1, 10.0.0.0/8,::1").trusted_proxies
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES") as refused:
        load_settings(trusted_proxies="127.0.0.1,proxy.internal")
    assert "proxy.internal" in str(refused.value)


def test_login_limits_are_the_throttle_policies() -> None:
    assert login_policies(load_settings()) == LoginPolicies(ACCOUNT_POLICY, IP_POLICY)
    limits = login_policies(
        load_settings(
            login_account_limit=3,
            login_address_limit=7,
            login_lock_seconds=10,
            login_window_seconds=120,
        )
    )
    account, address = limits.account, limits.address
    assert (account.threshold, address.threshold) == (3, 7)
    assert account.first_delay == timedelta(seconds=10)
    assert account.max_delay == account.window == timedelta(seconds=120)
    assert [account.delay(n) for n in range(3, 8)] == [
        timedelta(seconds=s) for s in (10, 20, 40, 80, 120)
    ]
