"""The ports the sessions service declares: where sessions are kept, and what it needs of
organizations. :class:`authward.store.sessions.SessionStore` and
:class:`authward.identity.orgs.Organizations` implement them."""

from __future__ import annotations

__all__ = ["OrganizationDirectory", "SessionStorePort"]

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from authward.identity.orgs import MemberRole, Organization
    from authward.store.audit import AuditEvent
    from authward.store.records import StoredKey


class SessionStorePort(Protocol):
    """Where sessions are kept (:class:`authward.store.sessions.SessionStore`). Rows read by
    column name: ``id``, ``digest``, ``user_id``, ``active_org_id``, ``claims``, ``ip``,
    ``user_agent``, ``created_at``, ``last_active_at``, ``expires_at``, ``revoked_at``."""

    async def insert(self, row: Mapping[str, Any], events: Sequence[AuditEvent]) -> None: ...
    async def get(self, session_id: str) -> Any | None: ...
    async def by_digest(self, digest: str) -> Any | None: ...
    async def list(self, user_id: str, active_at: datetime | None) -> builtins.list[Any]: ...
    async def active(self, now: datetime, offset: int, limit: int) -> builtins.list[Any]: ...
    async def touch(
        self, digest: str, now: datetime, check: Callable[[Any], None]
    ) -> Any | None: ...
    async def set_active_org(
        self, session_id: str, org_id: str | None, event: AuditEvent
    ) -> bool: ...
    async def revoke(
        self,
        session_id: str,
        now: datetime,
        ending: Callable[[Mapping[str, float]], None],
        event: Callable[[str], AuditEvent],
    ) -> bool: ...
    async def revoke_all(
        self,
        user_id: str,
        except_session: str | None,
        now: datetime,
        ending: Callable[[Mapping[str, float]], None],
        event: Callable[[builtins.list[str]], AuditEvent],
    ) -> int: ...
    async def state(self, session_id: str) -> Any | None: ...
    async def feed(
        self, since: datetime, now: datetime
    ) -> tuple[builtins.list[StoredKey], builtins.list[str]]: ...


class OrganizationDirectory(Protocol):
    """What sessions need of organizations (:class:`authward.identity.orgs.Organizations`)."""

    def permissions_of(self, role: str) -> tuple[str, ...]: ...
    async def get(self, org: str) -> Organization | None: ...
    async def member(self, org: str, user_id: str) -> MemberRole | None: ...
