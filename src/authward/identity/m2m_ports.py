"""The ports the machines and M2M tokens services declare: where machines and tokens are kept, and
what tokens need of machines. :class:`authward.store.m2m.M2MStore` implements both store ports;
:class:`authward.identity.machines.Machines` is the :class:`MachineDirectory`."""

from __future__ import annotations

__all__ = ["M2MTokenStorePort", "MachineDirectory", "MachineStorePort"]

import builtins
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from authward.identity.machines import Machine
    from authward.store.audit import AuditEvent


class MachineStorePort(Protocol):
    """Where machines are kept. Rows read by column name: ``id``, ``name``, ``secret_digest``,
    ``scopes``, ``created_at``, ``revoked_at``."""

    async def insert_machine(self, row: Mapping[str, Any], event: AuditEvent) -> bool: ...
    async def machine(self, field: Literal["id", "name"], value: str) -> Any | None: ...
    async def machine_by_digest(self, digest: str) -> Any | None: ...
    async def list_machines(self, include_revoked: bool) -> builtins.list[Any]: ...
    async def find_machines(
        self, ids: Collection[str], names: Collection[str]
    ) -> builtins.list[Any]: ...
    async def revoke_machine(
        self,
        field: Literal["id", "name"],
        value: str,
        now: datetime,
        ending: Callable[[str], None],
        event: Callable[[str, str], AuditEvent],
    ) -> bool: ...


class M2MTokenStorePort(Protocol):
    """Where M2M tokens are kept. Rows read by column name: ``id``, ``digest``, ``hint``,
    ``subject``, ``audience``, ``scopes``, ``created_at``, ``expires_at``, ``revoked_at``; a
    machine user's: ``name``, ``attributes``, ``attribute_list``."""

    async def machine_user_id(self, name: str) -> str | None: ...
    async def insert_token(self, row: Mapping[str, Any], event: AuditEvent) -> None: ...
    async def list_tokens(
        self,
        *,
        token_id: str | None = None,
        subject: str | None = None,
        include_revoked: bool = True,
    ) -> tuple[builtins.list[Any], dict[str, str]]: ...
    async def revoke_token(
        self, token_id: str, now: datetime, event: Callable[[Any], AuditEvent]
    ) -> bool: ...
    async def token_by_digest(self, digest: str) -> tuple[Any, Any | None] | None: ...


class MachineDirectory(Protocol):
    """What M2M tokens need of machines (:class:`authward.identity.machines.Machines`)."""

    async def identify(self, machine_secret_key: str) -> Machine: ...
    async def resolve(self, names_or_ids: Iterable[str]) -> builtins.list[Machine]: ...
    def invalidate(self) -> None: ...
