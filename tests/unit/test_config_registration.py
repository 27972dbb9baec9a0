"""``define_auth(dynamic_registration=...)``: off by default, and every mistake refused when the
app loads, naming the field (decision 049)."""

from __future__ import annotations

from typing import Any

import pytest

from authward import ConfigError, DynamicRegistration, define_auth

ENV = "AUTHWARD_TEST_DCR_TOKEN"


def problems(exc: ConfigError) -> dict[str, str]:
    return {i.path: i.message for i in exc.issues}


def test_off_unless_declared() -> None:
    assert define_auth("a").dynamic_registration is None
    on = define_auth("a", dynamic_registration=DynamicRegistration()).dynamic_registration
    assert on is not None
    assert on.initial_access_token is None
    assert on.confidential_clients is True


def test_the_initial_access_token_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "t" * 40)
    spec = DynamicRegistration(initial_access_token=f"env:{ENV}")
    on = define_auth("a", dynamic_registration=spec).dynamic_registration
    assert on is not None
    assert on.initial_access_token is not None
    assert on.initial_access_token.get_secret_value() == "t" * 40
    assert "t" * 40 not in repr(on)


@pytest.mark.parametrize(
    ("spec", "env", "path", "message"),
    [
        ({"initial_access_token": "t" * 40}, None, "initial_access_token", "expected 'env:NAME'"),
        ({"initial_access_token": f"env:{ENV}"}, None, "initial_access_token", "is not set"),
        ({"initial_access_token": f"env:{ENV}"}, "short", "initial_access_token", "at least 32"),
        ({"registrations_per_address": 0}, None, "registrations_per_address", "between 1"),
        ({"window_seconds": True}, None, "window_seconds", "whole number"),
        ({"confidential_clients": "yes"}, None, "confidential_clients", "True or False"),
    ],
)
def test_mistakes_name_their_field(
    monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any], env: str | None, path: str, message: str
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(ENV, env)
    with pytest.raises(ConfigError) as exc:
        define_auth("a", dynamic_registration=DynamicRegistration(**spec))
    found = problems(exc.value)
    assert message in found[f"dynamic_registration.{path}"]


def test_anything_else_is_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        define_auth("a", dynamic_registration={"initial_access_token": None})  # type: ignore[arg-type]
    assert "DynamicRegistration" in problems(exc.value)["dynamic_registration"]
