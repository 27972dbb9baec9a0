"""The error tree every part of authward raises.

    AuthwardError       anything authward refuses; ``code`` is stable, ``str()`` is one line
    ├── ConfigError     the app's configuration is wrong (raised when the app is loaded)
    │   └── PruneRequired  the store holds machine users / clients the config no longer declares
    ├── SettingsError   an environment setting or instance file is wrong or missing
    ├── StoreError      the database cannot be used (unreachable, newer schema, ...)
    ├── RecordError     a db type record is refused; ``field`` names the field (``Type.field: ...``)
    ├── TokenError      a token is refused; ``code`` is the RFC 6750 error code
    │   └── (``reason`` says why, e.g. ``token-expired``)
    ├── UnauthenticatedError  a request is refused with 401; ends an auth chain at once
    └── Forbidden       the principal lacks a permission, scope, role, type or attribute (403,
                        ``insufficient_scope``); ``missing`` lists each unmet requirement

Messages are written for the person who made the mistake; they never contain secrets.
"""

from __future__ import annotations

__all__ = [
    "AuthwardError",
    "ConfigError",
    "ConfigIssue",
    "Forbidden",
    "PruneRequired",
    "RecordError",
    "SettingsError",
    "StoreError",
    "TokenError",
    "UnauthenticatedError",
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


class PruneRequired(ConfigError):
    """The config no longer declares machine users or clients the store holds; deleting them
    ends their tokens, so it needs ``--prune`` (``would_remove`` names each, as "oauth2 client
    NAME"). Nothing was changed."""

    code = "prune_required"

    def __init__(self, would_remove: tuple[str, ...]) -> None:
        self.would_remove = would_remove
        super().__init__(
            f"the store holds {', '.join(would_remove)}, which the app does not declare; "
            "nothing was changed: `authward migrate --prune` with this app (or "
            "AUTHWARD_SYNC_PRUNE=true) deletes them and ends their tokens; or give this app "
            "its own database"
        )


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


class TooManyFailures(TokenError):
    """A credential was not checked: its caller's address failed too often (decision 037)."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            "too-many-failures",
            f"too many failed authentications: try again in {retry_after_seconds} seconds",
        )
        self.retry_after_seconds = retry_after_seconds


class UnauthenticatedError(AuthwardError):
    """Refuse a request with 401, ending the auth chain at once (the seed's eve semantics).

    ``code`` is what the client reads in the JSON body; ``message`` is for people. Both are sent
    to the client, so they must not carry secrets or internal detail.
    """

    code = "authentication_required"
    status = 401

    def __init__(self, *, code: str = "authentication_required", message: str = "") -> None:
        self.code = code
        self.message = message or "authentication required"
        super().__init__(self.message)


class RateLimited(UnauthenticatedError):
    """Refuse a request with 429 and ``Retry-After``: too many failed authentications."""

    status = 429

    def __init__(self, *, message: str, retry_after_seconds: int) -> None:
        super().__init__(code="too_many_requests", message=message)
        self.retry_after_seconds = retry_after_seconds


class Forbidden(AuthwardError):
    """The principal is authenticated but lacks what is required; answered with 403.

    ``missing`` lists each unmet requirement (``"permission 'org:repos:delete'"``). The message
    names them and, for each, only the principal's values of the attribute that was checked.
    """

    code = "insufficient_scope"
    status = 403

    def __init__(self, message: str, *, missing: tuple[str, ...] = ()) -> None:
        self.missing = tuple(missing)
        super().__init__(message)
