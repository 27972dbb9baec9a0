"""What the management API (:mod:`authward.server.management`) and the admin console
(:mod:`authward.server.console`) call of the identity services: one Protocol per service, of
the methods the two use (both are admin surfaces over the same services)."""

from __future__ import annotations

__all__ = [
    "ApiKeyAdmin",
    "AuditReader",
    "ClientList",
    "ConnectionAdmin",
    "ConsentAdmin",
    "MachineUserList",
    "ManagedSessions",
    "OrganizationAdmin",
    "RegisteredClientAdmin",
    "SecretRotator",
    "UserAdmin",
]

import builtins
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from authward.connections.values import ConnectionInfo, Kind
from authward.identity.api_keys import ApiKeyAuth, ApiKeyInfo
from authward.identity.orgs import MemberRole, Membership, Organization
from authward.identity.sessions import SessionInfo
from authward.oauth.secret_rotation import RotatedSecret
from authward.principal import Principal
from authward.store.audit import AuditRecord
from authward.store.consents import Consent
from authward.store.records import StoredClient, StoredMachineUser
from authward.store.registered_clients import RegisteredClientRow
from authward.users.values import UserAccount, UserClaims


class ApiKeyAdmin(Protocol):
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
    async def list(
        self,
        user_id: str | None = None,
        org_id: str | None = None,
        include_revoked: bool = False,
        *,
        after: tuple[datetime, UUID] | None = None,
        limit: int | None = None,
    ) -> builtins.list[ApiKeyInfo]: ...
    async def get(self, key_id: UUID | str) -> ApiKeyInfo | None: ...
    async def revoke(self, key_id: UUID | str, *, actor: str | None = None) -> bool: ...


class OrganizationAdmin(Protocol):
    @property
    def roles(self) -> Mapping[str, tuple[str, ...]]: ...
    async def create(self, slug: str, name: str, *, actor: str | None = None) -> Organization: ...
    async def get(self, org: str) -> Organization | None: ...
    async def list(
        self, *, after: str | None = None, limit: int | None = None
    ) -> builtins.list[Organization]: ...
    async def delete(self, org: str, *, actor: str | None = None) -> bool: ...
    async def members(self, org: str) -> builtins.list[Membership]: ...
    async def member(self, org: str, user_id: str) -> MemberRole | None: ...
    async def add_member(
        self, org: str, user_id: str, role: str, *, actor: str | None = None
    ) -> Membership: ...
    async def set_role(
        self, org: str, user_id: str, role: str, *, actor: str | None = None
    ) -> Membership: ...
    async def remove_member(self, org: str, user_id: str, *, actor: str | None = None) -> bool: ...
    async def memberships_of(self, user_id: str) -> builtins.list[Membership]: ...


class ManagedSessions(Protocol):
    async def list(
        self, user_id: str, include_inactive: bool = False
    ) -> builtins.list[SessionInfo]: ...
    async def get(self, session_id: str) -> SessionInfo | None: ...
    async def active(self, *, offset: int = 0, limit: int = 50) -> builtins.list[SessionInfo]: ...
    async def revoke(self, session_id: str, *, actor: str | None = None) -> bool: ...
    async def revoke_all(
        self, user_id: str, *, except_session: str | None = None, actor: str | None = None
    ) -> int: ...


class MachineUserList(Protocol):
    async def list(self) -> builtins.list[StoredMachineUser]: ...


class UserAdmin(Protocol):
    async def create(
        self,
        username: str,
        password: str | None,
        *,
        profile: Mapping[str, Any] | None = None,
        email_verified: bool = False,
        actor: Principal | None = None,
    ) -> UserAccount: ...
    async def get(self, user_id: str) -> UserAccount | None: ...
    async def find(self, username: str) -> UserAccount | None: ...
    async def page(
        self, *, after: str | None, limit: int, contains: str | None = None
    ) -> builtins.list[UserAccount]: ...
    async def claims(self, user_id: str) -> UserClaims | None: ...
    async def disable(self, username: str, *, actor: str | None = None) -> UserAccount: ...
    async def enable(self, username: str, *, actor: str | None = None) -> UserAccount: ...
    async def set_password(
        self, username: str, password: str, *, actor: str | None = None
    ) -> None: ...


class ClientList(Protocol):
    """The OAuth clients the config declares, as synced to the store."""

    async def list(self) -> builtins.list[StoredClient]: ...


class ConnectionAdmin(Protocol):
    async def list(
        self,
        account_id: str | None = None,
        *,
        provider: str | None = None,
        after: tuple[str, str, str, str] | None = None,
        limit: int | None = None,
    ) -> builtins.list[ConnectionInfo]: ...
    async def get(self, connection_id: str) -> ConnectionInfo | None: ...
    async def disconnect(
        self,
        account_id: str,
        provider: str,
        *,
        kind: Kind = "account",
        revoke: bool = True,
        actor: str | None = None,
    ) -> bool: ...


class AuditReader(Protocol):
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
    async def get(self, event_id: int) -> AuditRecord | None: ...


class SecretRotator(Protocol):
    async def rotate_client(
        self, name: str, *, actor: str | None = None
    ) -> RotatedSecret | None: ...
    async def rotate_machine_user(
        self, name: str, *, actor: str | None = None
    ) -> RotatedSecret | None: ...


class ConsentAdmin(Protocol):
    async def list(self, user_id: str) -> builtins.list[Consent]: ...
    async def revoke(self, user_id: str, client_id: str, *, actor: str | None = None) -> bool: ...


class RegisteredClientAdmin(Protocol):
    async def list(self) -> Sequence[RegisteredClientRow]: ...
    async def revoke(self, client_id: str, *, actor: str | None = None) -> bool: ...
