"""The error tree every part of authward raises.

Every exception authward defines derives from ``AuthwardError`` (``code`` is stable, ``str()`` is
one line), except three control-flow signals of the job engine, which derive from
``AuthwardSignal`` so that a run function's ``except Exception`` cannot swallow them.
``tests/unit/test_error_tree.py`` holds both, and that no two classes share a name.
Each class: where it lives (``errors`` unless named), then its ``code`` / HTTP status.

    AuthwardError                       authward_error
    ├── ConfigError                     invalid_config: the app's configuration (at load time)
    │   └── PruneRequired               prune_required: the store holds what the config dropped
    ├── SettingsError                   invalid_settings: an environment setting / instance file
    │   └── MissingExtra                missing_extra: an optional dependency is not installed
    ├── StoreError                      store_unavailable: the database cannot be used
    ├── RecordError                     invalid_record: a db-type record (``Type.field: ...``)
    ├── TokenError                      invalid_token (RFC 6750); ``reason`` says why
    │   ├── TooManyFailures             reason too-many-failures (decision 037)
    │   └── UnknownKey                  tokens.jws_verify: reason token-invalid, no such key
    ├── UnauthenticatedError            401 authentication_required; ends an auth chain at once
    │   ├── RateLimited                 429 too_many_requests, ``Retry-After``
    │   ├── MalformedCredential         channel.credentials: 400 invalid_request (RFC 6750 §3.1)
    │   └── DpopRefused                 channel.credentials: 401 invalid_dpop_proof /
    │                                   use_dpop_nonce / invalid_token, ``DPoP`` challenge
    ├── Forbidden                       403 insufficient_scope; ``missing`` lists each requirement
    ├── AuthChainFailure                channel.chain: 500; an entry failed (already logged)
    ├── IssuerUnavailable               oauth.issuer_keys: issuer_unavailable (500 via the chain)
    │   (_BadResponse                   oauth.issuer_keys: private, becomes an IssuerUnavailable)
    ├── OAuthError                      oauth.errors: RFC 6749 ``code``, 400 unless below
    │   ├── InvalidRequest              invalid_request
    │   │   └── (_TooLarge              server.oauth_routes: private, 413)
    │   ├── InvalidClient               401 invalid_client
    │   ├── InvalidGrant / UnauthorizedClient / UnsupportedGrantType /
    │   │   UnsupportedResponseType / InvalidScope / InvalidTarget / InvalidDpopProof /
    │   │   UseDpopNonce
    │   ├── AccessDenied                403 access_denied
    │   ├── LoginRequired / ConsentRequired / InteractionRequired   (prompt=none)
    │   ├── TemporarilyUnavailable      429 temporarily_unavailable
    │   └── RequestNotSupported / RequestUriNotSupported            oauth.authorize
    ├── AuthorizationError              oauth.authorize: the ``OAuthError`` it carries, sent to
    │                                   the client's redirect_uri (or shown to the user)
    ├── UserInfoError                   oauth.userinfo: 401 invalid_token / 403 insufficient_scope
    ├── UpstreamError                   oauth.upstream_values: external_login_failed (400);
    │                                   ``reason`` says why
    │   └── ProviderUnavailable         reason provider_unavailable (502)
    ├── FormError                       server.forms: invalid_form; an unreadable form (400)
    ├── NotFound                        server.management: 404 not_found
    ├── UserError / LoginError          users.errors: the tree drawn there
    ├── OrganizationError               identity.orgs: organization_error
    │   ├── OrganizationNotFound        not_found
    │   └── OrganizationConflict        conflict
    ├── ConnectionsError                connections.errors: connection_error
    │   ├── UnknownConnectionProvider   unknown_connection_provider
    │   ├── ConnectionBroken            connection_broken
    │   ├── ConnectionUnavailable       connection_unavailable
    │   ├── TokenRefused                connections.client: token_refused; ``error`` is the
    │   │                               provider's OAuth error
    │   └── ProviderUnreachable         connections.client: provider_unreachable
    ├── JobsError                       jobs.errors: the tree drawn there
    └── (private, never leave their module: _TimedOut in jobs.executor, _Invalid in
         store.type_records)

    AuthwardSignal                      not an error: stops a job run's execution
    ├── StoreInterrupted                jobs.store: the database went away; replayed later
    └── RunCancelled                    jobs.engine: the run was cancelled, here or elsewhere

Messages are written for the person who made the mistake; they never contain secrets.
"""

from __future__ import annotations

__all__ = [
    "AuthwardError",
    "AuthwardSignal",
    "ConfigError",
    "ConfigIssue",
    "Forbidden",
    "MissingExtra",
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


class AuthwardSignal(BaseException):
    """Control flow, not an error: a BaseException so that ``except Exception`` lets it pass."""


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


class MissingExtra(SettingsError):
    """A feature the app or the settings ask for needs an extra that is not installed; the
    message names the ``pip install`` line (docs/operations.md#packaging-and-extras)."""

    code = "missing_extra"

    def __init__(self, extra: str, what: str) -> None:
        self.extra = extra
        super().__init__(f"{what} needs the {extra} extra: pip install 'authward[{extra}]'")


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

    def __init__(
        self, message: str, *, missing: tuple[str, ...] = (), scopes: tuple[str, ...] = ()
    ) -> None:
        self.missing = tuple(missing)
        #: The unmet scope requirements alone: a 403 names them (``scope="..."``, step-up).
        self.scopes = tuple(scopes)
        super().__init__(message)
