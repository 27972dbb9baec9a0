"""What the vault hands out: a connection's token, a connection without its secrets, the
credential an integration makes its requests with (and where it came from), and the associated
data its sealed columns are bound to.

:class:`Credentials` lives here, below the job runtime, because both the vault (the developer's
own connection) and the job runtime (an auth resolver's answer) make them."""

from __future__ import annotations

__all__ = [
    "ConnectionInfo",
    "CredentialSource",
    "CredentialType",
    "Credentials",
    "Kind",
    "OAuthAccessToken",
    "info_of",
    "open_token",
    "seal_token",
    "sealed_aad",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from authward.connections.ports import Sealer

Kind = Literal["account", "developer"]
CredentialType = Literal["apiKey", "oauth"]
#: resolver: an auth resolver's own token; vault: a resolver's token read from the vault;
#: developer: the developer's own credential (``token=`` or the developer's vault connection).
CredentialSource = Literal["resolver", "vault", "developer"]


@dataclass(frozen=True, slots=True)
class OAuthAccessToken:
    """One token of a connection, as Clerk's ``getUserOauthAccessToken`` returns them."""

    token: str = field(repr=False)
    provider: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    external_id: str | None
    label: str | None
    connection_id: str
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an integration makes its requests with, and where it came from (lineage)."""

    type: CredentialType
    token: str = field(repr=False)
    source: CredentialSource
    #: The account the credential belongs to (None for the developer's own).
    account_id: str | None
    additional_fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: The vault connection that served it, marked broken when the provider refuses the token.
    connection_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A connection without its secrets (listings, the CLI, the connections page)."""

    id: str
    provider: str
    kind: Kind
    account_id: str
    external_id: str | None
    label: str | None
    scopes: tuple[str, ...]
    expires_at: datetime | None
    has_refresh_token: bool
    status: str
    broken_reason: str | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "kind": self.kind,
            "account_id": self.account_id or None,
            "external_id": self.external_id,
            "label": self.label,
            "scopes": list(self.scopes),
            "expires_at": self.expires_at,
            "has_refresh_token": self.has_refresh_token,
            "status": self.status,
            "broken_reason": self.broken_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def sealed_aad(connection_id: str, column: str) -> str:
    """What a sealed token is bound to: its row and column, so a blob copied elsewhere does not
    open."""
    return f"aw_connections.{column}:{connection_id}"


def seal_token(box: Sealer, connection_id: str, column: str, plaintext: str) -> bytes:
    return box.seal(plaintext.encode(), sealed_aad(connection_id, column))


def open_token(box: Sealer, row: Any, column: str) -> str:
    """The plaintext of the row's sealed ``column`` (``access_token`` or ``refresh_token``)."""
    return box.open(getattr(row, column), sealed_aad(row.id, column)).decode()


def info_of(row: Any) -> ConnectionInfo:
    """A row of the vault's store (columns by name) without its secrets."""
    return ConnectionInfo(
        id=row.id,
        provider=row.provider,
        kind=row.kind,
        account_id=row.account_id,
        external_id=row.external_id,
        label=row.label,
        scopes=tuple(row.scopes.split()) if row.scopes else (),
        expires_at=row.expires_at,
        has_refresh_token=row.refresh_token is not None,
        status=row.status,
        broken_reason=row.broken_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
