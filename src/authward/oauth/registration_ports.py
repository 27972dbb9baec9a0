"""What dynamic client registration (:mod:`authward.oauth.registration`) needs of the store:
:class:`authward.store.registered_clients.RegisteredClientStore` implements it."""

from __future__ import annotations

__all__ = ["RegisteredClientStorePort"]

import builtins
from typing import Protocol

from authward.store.audit import AuditEvent
from authward.store.registered_clients import RegisteredClientRow


class RegisteredClientStorePort(Protocol):
    async def add(self, row: RegisteredClientRow, event: AuditEvent) -> None: ...
    async def list(self) -> builtins.list[RegisteredClientRow]: ...
    async def get(self, client_id: str) -> RegisteredClientRow | None: ...
    async def delete(self, client_id: str, event: AuditEvent) -> bool: ...
