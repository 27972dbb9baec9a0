"""The error tree every part of authward raises.

    AuthwardError       anything authward refuses; ``code`` is stable, ``str()`` is one line
    ├── ConfigError     the app's configuration is wrong (raised when the app is loaded)
    ├── SettingsError   an environment setting or instance file is wrong or missing
    ├── StoreError      the database cannot be used (unreachable, newer schema, ...)
    ├── RecordError     a db type record is refused; ``field`` names the field (``Type.field: ...``)
    └── TokenError      a token is refused; ``code`` is the RFC 6750 error code
        └── (``reason`` says why, e.g. ``token-expired``)

Messages are written for the person who made the mistake; they never contain secrets.
"""

from __future__ import annotations

__all__ = [
    "AuthwardError",
    "ConfigError",
    "ConfigIssue",
    "RecordError",
    "SettingsError",
    "StoreError",
    "TokenError",
]

from dataclasses import dataclass


class AuthwardError(Exception):
    code: str = "authward_error"


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(AuthwardError):
    """One or more mistakes in the app's configuration, each naming the path that is wrong."""

    code = "invalid_config"

    def __init__(self, issues: list[ConfigIssue] | str, path: str = "") -> None:
        if isinstance(issues, str):
            issues = [ConfigIssue(path, issues)]
        self.issues = tuple(issues)
        super().__init__("; ".join(str(i) for i in self.issues))


class SettingsError(AuthwardError):
    code = "invalid_settings"


class StoreError(AuthwardError):
    code = "store_unavailable"


class RecordError(AuthwardError):
    """A db-type record was refused; ``str()`` reads ``User.role: only admins can make admins``."""

    code = "invalid_record"

    def __init__(self, type_name: str, field: str, message: str) -> None:
        self.type_name = type_name
        self.field = field
        self.message = " ".join(message.split()) or "is not valid"
        super().__init__(f"{type_name}.{field}: {self.message}")


class TokenError(AuthwardError):
    """A token was refused. ``reason`` is a stable machine-readable cause."""

    code = "invalid_token"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)
