"""``define_auth(dynamic_registration=DynamicRegistration(...))``: OAuth 2.0 Dynamic Client
Registration (RFC 7591), off unless declared (decision 049).

    define_auth("my-auth", ..., dynamic_registration=DynamicRegistration())      # open
    DynamicRegistration(initial_access_token="env:AUTHWARD_REGISTRATION_TOKEN")  # token needed

The initial access token is only ever named by its environment variable, so that it stays out
of the app's source; the variable must be set when the app loads.
"""

from __future__ import annotations

__all__ = ["DynamicRegistration", "Registration", "parse_dynamic_registration"]

import os
import re
from dataclasses import dataclass

from pydantic import SecretStr

from authward.config.issues import Issues

_ENV = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]{0,127})\Z")
#: Shorter tokens could be guessed within the per-address limits.
MIN_TOKEN_CHARS = 32
_PATH = "dynamic_registration"


@dataclass(frozen=True, slots=True)
class DynamicRegistration:
    """What an app declares. ``initial_access_token``: ``None`` (anyone may register) or
    ``"env:NAME"``, the environment variable holding the Bearer token registrations must carry.
    ``confidential_clients``: whether a client may ask for a client secret (public clients,
    ``token_endpoint_auth_method=none`` with PKCE, always may). At most
    ``registrations_per_address`` registrations per client address within ``window_seconds``."""

    initial_access_token: str | None = None
    confidential_clients: bool = True
    registrations_per_address: int = 10
    window_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class Registration:
    """The validated declaration, with the initial access token read from the environment."""

    initial_access_token: SecretStr | None
    confidential_clients: bool
    registrations_per_address: int
    window_seconds: int


def _whole(path: str, value: object, low: int, high: int, issues: Issues) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        issues.add(path, "expected a whole number")
        return low
    if not low <= value <= high:
        issues.add(path, f"must be between {low} and {high}, got {value}")
        return low
    return value


def _token(value: object, issues: Issues) -> SecretStr | None:
    path = f"{_PATH}.initial_access_token"
    if value is None:
        return None
    match = _ENV.match(value) if isinstance(value, str) else None
    if match is None:
        issues.add(
            path,
            "expected 'env:NAME', the environment variable that holds the token "
            "(a token written in the source would be a secret in the source)",
        )
        return None
    name = match.group(1)
    token = os.environ.get(name)
    if not token:
        issues.add(path, f"the environment variable {name} is not set")
        return None
    if len(token) < MIN_TOKEN_CHARS or token.strip() != token:
        issues.add(
            path,
            f"the token in {name} must be at least {MIN_TOKEN_CHARS} characters, without "
            "surrounding spaces",
        )
        return None
    return SecretStr(token)


def parse_dynamic_registration(spec: object, issues: Issues) -> Registration | None:
    if spec is None:
        return None
    if not isinstance(spec, DynamicRegistration):
        issues.add(_PATH, "expected DynamicRegistration(...)")
        return None
    confidential = spec.confidential_clients
    if not isinstance(confidential, bool):
        issues.add(f"{_PATH}.confidential_clients", "expected True or False")
        confidential = False
    return Registration(
        initial_access_token=_token(spec.initial_access_token, issues),
        confidential_clients=confidential,
        registrations_per_address=_whole(
            f"{_PATH}.registrations_per_address",
            spec.registrations_per_address,
            1,
            100_000,
            issues,
        ),
        window_seconds=_whole(f"{_PATH}.window_seconds", spec.window_seconds, 1, 86_400, issues),
    )
