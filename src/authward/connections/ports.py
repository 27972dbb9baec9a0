"""The ports the vault declares: where connections are kept, and what seals their tokens.
:class:`authward.store.vault.VaultStore` and :class:`authward.crypto.secretbox.SecretBox`
implement them.

The store sees only ciphertext: the vault seals every token before it hands a row over, and
opens it after it reads one back."""

from __future__ import annotations

__all__ = ["Sealer", "VaultStorePort"]

import builtins
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from authward.store.audit import AuditEvent


class Sealer(Protocol):
    """Authenticated encryption bound to associated data (the instance key's
    :class:`~authward.crypto.secretbox.SecretBox`)."""

    def seal(self, plaintext: bytes, aad: str) -> bytes: ...
    def open(self, blob: bytes, aad: str) -> bytes: ...


class VaultStorePort(Protocol):
    """Where connections are kept (:class:`authward.store.vault.VaultStore`). Rows read by column
    name: ``id``, ``provider``, ``kind``, ``account_id``, ``external_id``, ``label``, ``scopes``,
    ``token_type``, ``access_token`` and ``refresh_token`` (sealed bytes), ``expires_at``,
    ``status``, ``broken_reason``, ``refresh_owner``, ``refresh_until``, ``version``,
    ``created_at``, ``updated_at``. Every write that changes a token bumps ``version``."""

    async def find(self, provider: str, kind: str, account_id: str) -> Any | None: ...
    async def get(self, connection_id: str) -> Any | None: ...
    async def list(
        self,
        account_id: str | None,
        *,
        provider: str | None = None,
        after: tuple[str, str, str, str] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Any]: ...
    async def insert(self, row: Mapping[str, Any], event: AuditEvent) -> Any | None: ...
    async def replace(
        self, connection_id: str, values: Mapping[str, Any], event: AuditEvent
    ) -> Any | None: ...
    async def take_lease(
        self, connection_id: str, version: int, owner: str, now: datetime, until: datetime
    ) -> bool: ...
    async def release(self, connection_id: str, owner: str) -> None: ...
    async def save_refreshed(
        self, connection_id: str, owner: str, values: Mapping[str, Any], event: AuditEvent
    ) -> Any | None: ...
    async def set_broken(
        self, connection_id: str, reason: str, now: datetime, event: Callable[[Any], AuditEvent]
    ) -> bool: ...
    async def delete(self, connection_id: str, event: AuditEvent) -> bool: ...
