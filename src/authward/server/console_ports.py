"""What the admin console and the self-service page call: narrow views of the services the
composition root hands to ``server/app.py`` (decision 051)."""

from __future__ import annotations

__all__ = [
    "ConsoleApiKeys",
    "ConsoleAudit",
    "ConsoleConnections",
    "ConsoleConsents",
    "ConsoleOrganizations",
    "ConsoleServices",
    "ConsoleSessions",
    "ConsoleUsers",
    "DeclaredClients",
    "DeclaredMachineUsers",
    "RegisteredClients",
    "SecretRotations",
]

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from authward.connections.values import ConnectionInfo
from authward.identity.api_keys import ApiKeyAuth, ApiKeyInfo
from authward.identity.orgs import Membership, Organization
from authward.identity.sessions import SessionInfo
from authward.oauth.secret_rotation import RotatedSecret
from authward.principal import Principal
from authward.store.audit import AuditRecord
from authward.store.consents import Consent
from authward.store.records import StoredClient, StoredMachineUser
from authward.store.registered_clients import RegisteredClientRow
from authward.users import UserAccount


class ConsoleUsers(Protocol):
    async def get(self, user_id: str) -> UserAccount | None: ...
    async def find(self, username: str) -> UserAccount | None: ...
    async def page(
        self, *, after: str | None, limit: int, contains: str | None = None
    ) -> builtins.list[UserAccount]: ...
    async def create(
        self,
        username: str,
        password: str | None,
        *,
        profile: Mapping[str, Any] | None = None,
        email_verified: bool = False,
        actor: Principal | None = None,
    ) -> UserAccount: ...
    async def disable(self, username: str, *, actor: str | None = None) -> UserAccount: ...
    async def enable(self, username: str, *, actor: str | None = None) -> UserAccount: ...
    async def set_password(
        self, username: str, password: str, *, actor: str | None = None
    ) -> None: ...


class ConsoleSessions(Protocol):
    async def get(self, session_id: str) -> SessionInfo | None: ...
    async def list(
        self, user_id: str, include_inactive: bool = False
    ) -> builtins.list[SessionInfo]: ...
    async def active(self, *, offset: int = 0, limit: int = 50) -> builtins.list[SessionInfo]: ...
    async def revoke(self, session_id: str, *, actor: str | None = None) -> bool: ...
    async def revoke_all(
        self, user_id: str, *, except_session: str | None = None, actor: str | None = None
    ) -> int: ...


class ConsoleApiKeys(Protocol):
    async def get(self, key_id: UUID | str) -> ApiKeyInfo | None: ...
    async def list(
        self,
        user_id: str | None = None,
        org_id: str | None = None,
        include_revoked: bool = False,
    ) -> builtins.list[ApiKeyInfo]: ...
    async def create(
        self,
        name: str,
        *,
        user_id: str | None = None,
        org_id: str | None = None,
        scopes: Iterable[str] = (),
        expires_at: datetime | None = None,
        actor: str | None = None,
    ) -> tuple[str, ApiKeyAuth]: ...
    async def revoke(self, key_id: UUID | str, *, actor: str | None = None) -> bool: ...


class ConsoleOrganizations(Protocol):
    @property
    def roles(self) -> Mapping[str, tuple[str, ...]]: ...
    async def create(self, slug: str, name: str, *, actor: str | None = None) -> Organization: ...
    async def get(self, org: str) -> Organization | None: ...
    async def list(self) -> builtins.list[Organization]: ...
    async def add_member(
        self, org: str, user_id: str, role: str, *, actor: str | None = None
    ) -> Membership: ...
    async def remove_member(self, org: str, user_id: str, *, actor: str | None = None) -> bool: ...
    async def members(self, org: str) -> builtins.list[Membership]: ...
    async def memberships_of(self, user_id: str) -> builtins.list[Membership]: ...


class ConsoleConnections(Protocol):
    async def list(self, account_id: str | None = None) -> builtins.list[ConnectionInfo]: ...
    async def disconnect(
        self, account_id: str, provider: str, *, actor: str | None = None
    ) -> bool: ...


class ConsoleConsents(Protocol):
    async def list(self, user_id: str) -> builtins.list[Consent]: ...
    async def revoke(self, user_id: str, client_id: str, *, actor: str | None = None) -> bool: ...


class ConsoleAudit(Protocol):
    async def page(
        self,
        *,
        before: int | None,
        limit: int,
        kind: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> builtins.list[AuditRecord]: ...


class DeclaredClients(Protocol):
    async def list(self) -> builtins.list[StoredClient]: ...


class DeclaredMachineUsers(Protocol):
    async def list(self) -> builtins.list[StoredMachineUser]: ...


class SecretRotations(Protocol):
    """:class:`authward.oauth.secret_rotation.SecretRotation`."""

    async def rotate_client(
        self, name: str, *, actor: str | None = None
    ) -> RotatedSecret | None: ...
    async def rotate_machine_user(
        self, name: str, *, actor: str | None = None
    ) -> RotatedSecret | None: ...


class RegisteredClients(Protocol):
    async def list(self) -> Sequence[RegisteredClientRow]: ...
    async def revoke(self, client_id: str, *, actor: str | None = None) -> bool: ...


@dataclass(frozen=True, slots=True)
class ConsoleServices:
    users: ConsoleUsers
    sessions: ConsoleSessions
    api_keys: ConsoleApiKeys
    organizations: ConsoleOrganizations
    connections: ConsoleConnections
    consents: ConsoleConsents
    audit: ConsoleAudit
    clients: DeclaredClients
    machine_users: DeclaredMachineUsers
    registered_clients: RegisteredClients
    secret_rotation: SecretRotations
    #: Usernames that are admins (``AUTHWARD_DASHBOARD_USERS``, decision 051).
    admins: frozenset[str]
