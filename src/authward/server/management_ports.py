"""What the management API (:mod:`authward.server.management`) calls of the identity services:
one Protocol per service, of exactly the methods its handlers use."""

from __future__ import annotations

__all__ = ["ApiKeyAdmin", "MachineUserList", "ManagedSessions", "OrganizationAdmin"]

import builtins
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol
from uuid import UUID

from authward.identity.api_keys import ApiKeyAuth, ApiKeyInfo
from authward.identity.orgs import MemberRole, Membership, Organization
from authward.identity.sessions import SessionInfo
from authward.store.records import StoredMachineUser


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
    ) -> builtins.list[ApiKeyInfo]: ...
    async def get(self, key_id: UUID | str) -> ApiKeyInfo | None: ...
    async def revoke(self, key_id: UUID | str, *, actor: str | None = None) -> bool: ...


class OrganizationAdmin(Protocol):
    async def create(self, slug: str, name: str, *, actor: str | None = None) -> Organization: ...
    async def get(self, org: str) -> Organization | None: ...
    async def list(self) -> builtins.list[Organization]: ...
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


class ManagedSessions(Protocol):
    async def list(
        self, user_id: str, include_inactive: bool = False
    ) -> builtins.list[SessionInfo]: ...
    async def get(self, session_id: str) -> SessionInfo | None: ...
    async def revoke(self, session_id: str, *, actor: str | None = None) -> bool: ...
    async def revoke_all(
        self, user_id: str, *, except_session: str | None = None, actor: str | None = None
    ) -> int: ...


class MachineUserList(Protocol):
    async def list(self) -> builtins.list[StoredMachineUser]: ...
