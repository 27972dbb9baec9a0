"""A client's refresh-grant absolute lifetime and rotation grace, and the instance defaults: checked
when the app loads, every refusal naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from authward import ConfigError, define_auth
from authward.errors import SettingsError
from authward.settings import load_settings

CLIENT = "oauth2_clients['my-oauth2-client']"
ABSOLUTE = f"{CLIENT}.refresh_token_absolute_lifetime_seconds"
GRACE = f"{CLIENT}.refresh_token_rotation_grace_seconds"


def define(**client: Any) -> Any:
    spec = {"redirect_uris": ["https://example.com/callback"], **client}
    return define_auth("my-auth", oauth2_clients={"my-oauth2-client": spec})


def refusal_at(path: str, **client: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        define(**client)
    messages = [i.message for i in caught.value.issues if i.path == path]
    assert len(messages) == 1, caught.value.issues
    return messages[0]


def test_a_client_sets_its_own() -> None:
    c = define(
        refresh_token_absolute_lifetime_seconds=7_776_000,
        refresh_token_rotation_grace_seconds=0,
    ).oauth2_clients["my-oauth2-client"]
    assert c.refresh_token_absolute_lifetime_seconds == 7_776_000
    assert c.refresh_token_rotation_grace_seconds == 0


def test_unset_means_the_instance_defaults() -> None:
    c = define().oauth2_clients["my-oauth2-client"]
    assert c.refresh_token_absolute_lifetime_seconds is None
    assert c.refresh_token_rotation_grace_seconds is None
    settings = load_settings()
    assert settings.default_refresh_token_absolute_lifetime_seconds == 30 * 86_400
    assert settings.default_refresh_token_rotation_grace_seconds == 30


@pytest.mark.parametrize("value", [59, 31_536_001, -1, True, "2592000", 86_400.0])
def test_absolute_lifetime_refused(value: object) -> None:
    message = refusal_at(ABSOLUTE, refresh_token_absolute_lifetime_seconds=value)
    assert "60 and 31536000" in message or "whole number" in message


@pytest.mark.parametrize("value", [-1, 61, 3600, False, "30", 1.5])
def test_grace_refused(value: object) -> None:
    message = refusal_at(GRACE, refresh_token_rotation_grace_seconds=value)
    assert "0 and 60" in message or "whole number" in message


def test_absolute_lifetime_shorter_than_the_idle_one_is_refused() -> None:
    message = refusal_at(
        ABSOLUTE,
        refresh_token_lifetime_seconds=86_400,
        refresh_token_absolute_lifetime_seconds=3600,
    )
    assert message == "must be at least refresh_token_lifetime_seconds (86400), got 3600"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("default_refresh_token_absolute_lifetime_seconds", 31_536_001),
        ("default_refresh_token_rotation_grace_seconds", 61),
    ],
)
def test_instance_defaults_refused_out_of_range(name: str, value: int) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(**{name: value})
    assert "AUTHWARD_" + name.upper() in str(caught.value)
