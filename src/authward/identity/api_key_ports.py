"""The ports the API keys service declares: where keys are kept, and what it needs of the
failed-authentication limiter. :class:`authward.store.api_keys.ApiKeyStore` and
:class:`authward.oauth.failures.FailedAuthentications` implement them."""

from __future__ import annotations

__all__ = ["ApiKeyStorePort", "FailureLimiter"]

import builtins
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from authward.store.api_keys import Transaction
    from authward.store.audit import AuditEvent
    from authward.store.limits import LimitKey


class ApiKeyStorePort(Protocol):
    """Where API keys are kept (:class:`authward.store.api_keys.ApiKeyStore`). Rows read by
    column name: ``id``, ``digest``, ``hint``, ``name``, ``user_id``, ``org_id``, ``scopes``,
    ``created_at``, ``expires_at``, ``revoked_at``, ``last_used_at``."""

    async def insert(
        self,
        row: Mapping[str, Any],
        event: Callable[[str | None], AuditEvent],
        unknown_org: Callable[[str], NoReturn],
    ) -> str | None: ...
    async def get(self, key_id: UUID) -> Any | None: ...
    async def list(
        self,
        user_id: str | None,
        org: str | None,
        include_revoked: bool,
        *,
        after: tuple[datetime, UUID] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Any]: ...
    async def revoke(
        self, key_id: UUID, now: datetime, event: Callable[[Any], AuditEvent]
    ) -> bool: ...
    async def revoke_org_keys(
        self, conn: Transaction, org_id: str, now: datetime, actor: str | None
    ) -> builtins.list[UUID]: ...
    async def by_digest(self, digest: str) -> Any | None: ...
    async def record_uses(self, uses: Mapping[UUID, datetime]) -> None: ...


class FailureLimiter(Protocol):
    """What API-key checks need of the failed-authentication limiter (decision 037): refused
    keys count against the caller's address, which is locked once it failed too often."""

    def api_key_keys(self, ip: str | None) -> list[LimitKey]: ...
    async def retry_after(self, keys: list[LimitKey]) -> int: ...
    async def failed(self, keys: list[LimitKey]) -> None: ...
