"""The ports the organizations service declares: where organizations and memberships are kept,
and what deleting one needs of API keys. :class:`authward.store.orgs.OrgStore` and
:class:`authward.identity.api_keys.ApiKeys` implement them."""

from __future__ import annotations

__all__ = ["OrgKeyRevocation", "OrgStorePort"]

import builtins
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from authward.store.api_keys import Transaction
    from authward.store.audit import AuditEvent
    from authward.store.orgs import KeyRevoker


class OrgStorePort(Protocol):
    """Where organizations and memberships are kept (:class:`authward.store.orgs.OrgStore`).
    ``org`` is an id (it has a ``_``) or a slug. Rows read by column name: an organization's
    ``id``, ``slug``, ``name``, ``created_at``, ``updated_at``; a membership's ``org_id``,
    ``user_id``, ``role``, ``created_at``, ``updated_at`` (and ``slug`` from
    :meth:`memberships_of`)."""

    async def insert(self, row: Mapping[str, Any], event: AuditEvent) -> bool: ...
    async def find(self, org: str) -> Any | None: ...
    async def list(
        self, *, after: str | None = None, limit: int | None = None
    ) -> builtins.list[Any]: ...
    async def delete(
        self, org: str, revoke_keys: KeyRevoker, event: Callable[[Any, int, int], AuditEvent]
    ) -> Any | None: ...
    async def add_member(
        self, org: str, row: Mapping[str, Any], event: Callable[[Any], AuditEvent]
    ) -> tuple[Any | None, bool]: ...
    async def set_role(
        self,
        org: str,
        user_id: str,
        role: str,
        now: datetime,
        event: Callable[[Any, str], AuditEvent],
    ) -> tuple[Any | None, Any | None]: ...
    async def remove_member(
        self, org: str, user_id: str, event: Callable[[Any, str], AuditEvent]
    ) -> tuple[Any | None, str | None]: ...
    async def members(self, org: str) -> tuple[Any | None, builtins.list[Any]]: ...
    async def memberships_of(self, user_id: str) -> builtins.list[Any]: ...
    async def role_of(self, org: str, user_id: str) -> str | None: ...


class OrgKeyRevocation(Protocol):
    """What deleting an organization needs of API keys
    (:class:`authward.identity.api_keys.ApiKeys`): revoke the organization's keys in the
    deletion's transaction, refusing them in this process at once, and stop refusing them should
    that transaction roll back."""

    async def revoke_org_keys(
        self, conn: Transaction, org_id: str, *, now: datetime, actor: str | None = None
    ) -> builtins.list[UUID]: ...
    def forget_local_revocations(self, key_ids: Iterable[UUID]) -> None: ...
