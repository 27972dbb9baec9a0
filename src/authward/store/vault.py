"""The connected-accounts vault's SQL: rows of ``aw_connections`` and the audit events written
with them.

:class:`VaultStore` implements :class:`authward.connections.ports.VaultStorePort`; the vault
(sealing, the cache of opened tokens, refreshes) lives in :mod:`authward.connections.vault`.
Tokens arrive here sealed and leave sealed. Rows are handed back with attribute access by column
name (SQLAlchemy's rows, or :func:`~authward.store.direct.first_row`'s for the reads every token
request makes).
"""

from __future__ import annotations

__all__ = ["VaultStore"]

import builtins
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.store.audit import AuditEvent, AuditStore
from authward.store.direct import first_row
from authward.store.engine import begin_write
from authward.store.schema import connections

_RELEASED = {"refresh_owner": None, "refresh_until": None}
# Built once: every token request that misses the vault's cache reads one (decision 043).
_FIND = select(connections).where(
    connections.c.provider == bindparam("provider"),
    connections.c.kind == bindparam("kind"),
    connections.c.account_id == bindparam("account_id"),
)


async def _row(conn: AsyncConnection, connection_id: str) -> Any | None:
    return (
        await conn.execute(select(connections).where(connections.c.id == connection_id))
    ).first()


class VaultStore:
    def __init__(self, engine: AsyncEngine, audit: AuditStore) -> None:
        self._engine = engine
        self._audit = audit

    async def find(self, provider: str, kind: str, account_id: str) -> Any | None:
        """The one connection of (``provider``, ``kind``, ``account_id``), if any."""
        params = {"provider": provider, "kind": kind, "account_id": account_id}
        return await first_row(self._engine, _FIND, params)

    async def get(self, connection_id: str) -> Any | None:
        async with self._engine.connect() as conn:
            return await _row(conn, connection_id)

    async def list(
        self,
        account_id: str | None,
        *,
        provider: str | None = None,
        after: tuple[str, str, str, str] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Any]:
        """The connections of ``account_id`` (of every account when None; of one ``provider``
        when given), by account, provider, kind and id: those after ``after`` (those four of
        a connection), at most ``limit``."""
        c = connections.c
        order = (c.account_id, c.provider, c.kind, c.id)
        query = select(connections).order_by(*order).limit(limit)
        if account_id is not None:
            query = query.where(c.account_id == account_id)
        if provider is not None:
            query = query.where(c.provider == provider)
        if after is not None:
            query = query.where(tuple_(*order) > tuple_(*after))
        async with self._engine.connect() as conn:
            return list(await conn.execute(query))

    async def insert(self, row: Mapping[str, Any], event: AuditEvent) -> Any | None:
        """A new connection and its audit event; the row as stored. None (nothing written)
        when the same (provider, kind, account) was connected meanwhile."""
        try:
            async with begin_write(self._engine) as conn:
                await conn.execute(connections.insert().values(**row))
                await self._audit.record(event, conn)
                return await _row(conn, row["id"])
        except IntegrityError:
            return None

    async def replace(
        self, connection_id: str, values: Mapping[str, Any], event: AuditEvent
    ) -> Any | None:
        """New ``values`` for a connection (its ``version`` bumped) and the audit event; the row
        as stored, or None (nothing written) when it is gone."""
        async with begin_write(self._engine) as conn:
            done = await conn.execute(
                update(connections)
                .where(connections.c.id == connection_id)
                .values(version=connections.c.version + 1, **values)
            )
            if done.rowcount != 1:
                return None
            await self._audit.record(event, conn)
            return await _row(conn, connection_id)

    async def take_lease(
        self, connection_id: str, version: int, owner: str, now: datetime, until: datetime
    ) -> bool:
        """Make ``owner`` the connection's one refresher until ``until``: only while it is
        active, still at ``version`` and nobody else's lease is live at ``now``."""
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(connections)
                .where(
                    connections.c.id == connection_id,
                    connections.c.version == version,
                    connections.c.status == "active",
                    (connections.c.refresh_owner.is_(None)) | (connections.c.refresh_until < now),
                )
                .values(refresh_owner=owner, refresh_until=until)
            )
            return bool(result.rowcount == 1)

    async def release(self, connection_id: str, owner: str) -> None:
        """Give the lease back, if ``owner`` still holds it."""
        async with begin_write(self._engine) as conn:
            await conn.execute(
                update(connections)
                .where(connections.c.id == connection_id, connections.c.refresh_owner == owner)
                .values(**_RELEASED)
            )

    async def save_refreshed(
        self, connection_id: str, owner: str, values: Mapping[str, Any], event: AuditEvent
    ) -> Any | None:
        """A refresh's tokens, if ``owner`` still holds the lease: ``version`` bumped, the lease
        released, the audit event written; the row as stored. None (nothing written) when the
        connection was removed or another process took the lease over."""
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(connections)
                .where(connections.c.id == connection_id, connections.c.refresh_owner == owner)
                .values(version=connections.c.version + 1, **_RELEASED, **values)
            )
            if result.rowcount != 1:
                return None
            await self._audit.record(event, conn)
            return await _row(conn, connection_id)

    async def set_broken(
        self, connection_id: str, reason: str, now: datetime, event: Callable[[Any], AuditEvent]
    ) -> bool:
        """Mark the connection broken for ``reason`` (``version`` bumped, any lease released),
        with the audit event ``event`` makes of its row. False when there is no such
        connection."""
        async with begin_write(self._engine) as conn:
            row = await _row(conn, connection_id)
            if row is None:
                return False
            await conn.execute(
                update(connections)
                .where(connections.c.id == connection_id)
                .values(
                    status="broken",
                    broken_reason=reason,
                    version=connections.c.version + 1,
                    updated_at=now,
                    **_RELEASED,
                )
            )
            await self._audit.record(event(row), conn)
        return True

    async def delete(self, connection_id: str, event: AuditEvent) -> bool:
        """Remove the connection, with its audit event. False (nothing written) when it was
        gone already."""
        async with begin_write(self._engine) as conn:
            done = await conn.execute(delete(connections).where(connections.c.id == connection_id))
            if done.rowcount != 1:
                return False
            await self._audit.record(event, conn)
        return True
