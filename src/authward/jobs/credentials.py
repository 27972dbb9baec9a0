"""Credentials for a run's integrations: an auth resolver's answer, or the developer's own.

The order (docs/integrations.md): an auth resolver defined for the integration decides alone —
``None`` or an exception fails the run with :class:`UnresolvedAuthError` before any request is
made; without a resolver, the integration's developer credential (``token=`` in code, or the
developer's connection in the vault). Resolution happens once per execution of a run and
integration, never for a task replayed from its stored output, and the secret is never stored:
the task records only where it came from (``credential_source``) and for whom.
"""

from __future__ import annotations

__all__ = [
    "AuthResolver",
    "AuthResolverResult",
    "HasDeveloperCredentials",
    "ResolverEntry",
    "resolve_credentials",
]

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from authward.connections.errors import ConnectionBroken
from authward.connections.reads import VaultRead, vault_reads
from authward.connections.values import Credentials, CredentialType
from authward.jobs.context import RunContext
from authward.jobs.errors import UnresolvedAuthError

if TYPE_CHECKING:
    from authward.jobs.io import Integration
    from authward.jobs.ports import CredentialVault

_TYPES = ("apiKey", "oauth")


@dataclass(frozen=True, slots=True)
class AuthResolverResult:
    """What an auth resolver returns (a mapping with these keys is accepted too, or ``None``).

    ``additional_fields`` reach the integration (a shop name that selects the base URL, say)."""

    type: CredentialType
    token: str = field(repr=False)
    additional_fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"type must be 'apiKey' or 'oauth', not {self.type!r}")
        if not isinstance(self.token, str) or not self.token:
            raise ValueError("token must be a non-empty string")
        fields = self.additional_fields
        if not isinstance(fields, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
        ):
            raise ValueError("additional_fields must map strings to strings")
        object.__setattr__(self, "additional_fields", MappingProxyType(dict(fields)))


AuthResolver = Callable[[RunContext, "Integration"], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ResolverEntry:
    integration: Integration
    fn: AuthResolver
    timeout_seconds: float


@runtime_checkable
class HasDeveloperCredentials(Protocol):
    """An integration that can fall back on the developer's own credential."""

    async def developer_credentials(self, vault: CredentialVault) -> Credentials | None: ...


def _coerce(value: object) -> AuthResolverResult:
    if isinstance(value, AuthResolverResult):
        return value
    if isinstance(value, Mapping):
        data = dict(value)
        if "additionalFields" in data and "additional_fields" not in data:
            data["additional_fields"] = data.pop("additionalFields")
        unknown = sorted(set(data) - {"type", "token", "additional_fields"})
        if unknown:
            raise ValueError(
                f"unknown field {unknown[0]!r} (known: type, token, additional_fields)"
            )
        return AuthResolverResult(**data)
    raise ValueError(
        f"returned a {type(value).__name__}; return AuthResolverResult(type=..., token=...) or None"
    )


def _served_by(reads: list[VaultRead], token: str) -> VaultRead | None:
    for read in reads:
        if hmac.compare_digest(read.token.encode(), token.encode()):
            return read
    return None


async def _call_resolver(entry: ResolverEntry, ctx: RunContext) -> Credentials:
    integration = entry.integration
    account = ctx.account.id if ctx.account else None

    def unresolved(reason: str) -> UnresolvedAuthError:
        return UnresolvedAuthError(integration.id, account, reason)

    reads: list[VaultRead] = []
    marker = vault_reads.set(reads)
    try:
        async with asyncio.timeout(entry.timeout_seconds):
            value = await entry.fn(ctx, integration)
    except TimeoutError:
        raise unresolved(
            f"the auth resolver did not answer within {entry.timeout_seconds:g}s"
        ) from None
    except UnresolvedAuthError:
        raise
    except Exception as exc:
        raise unresolved(f"the auth resolver raised {type(exc).__name__}: {exc}") from None
    finally:
        vault_reads.reset(marker)
    if value is None:
        raise unresolved("the auth resolver returned None")
    try:
        result = _coerce(value)
    except (TypeError, ValueError) as exc:
        raise unresolved(f"the auth resolver {exc}") from None
    served = _served_by(reads, result.token)
    return Credentials(
        type=result.type,
        token=result.token,
        source="vault" if served else "resolver",
        account_id=account,
        additional_fields=result.additional_fields,
        connection_id=served.connection_id if served else None,
    )


async def resolve_credentials(
    vault: CredentialVault,
    resolvers: Mapping[str, ResolverEntry],
    integration: Integration,
    ctx: RunContext,
) -> Credentials:
    """The credential ``integration`` uses for the run (or registration) ``ctx``."""
    entry = resolvers.get(integration.id)
    if entry is not None:
        return await _call_resolver(entry, ctx)
    account = ctx.account.id if ctx.account else None
    if isinstance(integration, HasDeveloperCredentials):
        try:
            own = await integration.developer_credentials(vault)
        except ConnectionBroken as exc:
            # The provider refused the developer's stored token: no credential, like a resolver
            # answering None (the failed call shows on the run's timeline; nothing is sent).
            raise UnresolvedAuthError(integration.id, account, str(exc)) from None
        if own is not None:
            return own
    raise UnresolvedAuthError(
        integration.id,
        account,
        "no auth resolver is defined for it and the developer has no credential for it "
        "(define one with client.define_auth_resolver, or connect the developer's account)",
    )
