"""The M2M aggregate's SQL: rows of ``aw_machines`` and ``aw_m2m_tokens``, what tokens need of
``aw_machine_users``, and the audit events written with them.

:class:`M2MStore` implements :class:`authward.identity.m2m_ports.MachineStorePort` and
:class:`authward.identity.m2m_ports.M2MTokenStorePort`; the domain services (formats, rules,
verification caches) live in :mod:`authward.identity.machines` and
:mod:`authward.identity.m2m_tokens`. Rows are handed back as SQLAlchemy rows (attribute access by
column name).
"""

from __future__ import annotations

__all__ = ["M2MStore"]

import builtins
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.audit import AuditEvent, AuditStore
from authward.store.engine import begin_write
from authward.store.schema import m2m_tokens, machine_users, machines

#: What verification reads of a token (never its hint or creation time).
_TOKEN_BY_DIGEST = select(
    m2m_tokens.c.id,
    m2m_tokens.c.digest,
    m2m_tokens.c.subject,
    m2m_tokens.c.audience,
    m2m_tokens.c.scopes,
    m2m_tokens.c.expires_at,
    m2m_tokens.c.revoked_at,
)
_MACHINE_USER_OF_TOKEN = select(
    machine_users.c.name, machine_users.c.attributes, machine_users.c.attribute_list
)


def _machine_where(field: Literal["id", "name"], value: str) -> Any:
    return (machines.c.id if field == "id" else machines.c.name) == value


class M2MStore:
    def __init__(self, engine: AsyncEngine, audit: AuditStore) -> None:
        self._engine = engine
        self._audit = audit

    # -- machines -------------------------------------------------------------------------------

    async def insert_machine(self, row: Mapping[str, Any], event: AuditEvent) -> bool:
        """The machine's row and its audit event; False (nothing written) when a machine of that
        name exists."""
        try:
            async with begin_write(self._engine) as conn:
                taken = await conn.execute(
                    select(machines.c.id).where(machines.c.name == row["name"])
                )
                if taken.first() is not None:
                    return False
                await conn.execute(machines.insert().values(**row))
                await self._audit.record(event, conn)
        except IntegrityError:  # a concurrent create of the same name
            return False
        return True

    async def machine(self, field: Literal["id", "name"], value: str) -> Any | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(select(machines).where(_machine_where(field, value)))
            ).first()

    async def machine_by_digest(self, digest: str) -> Any | None:
        query = select(machines).where(machines.c.secret_digest == digest)
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).first()

    async def list_machines(self, include_revoked: bool) -> builtins.list[Any]:
        """Machines, oldest first; revoked ones only when asked."""
        query = select(machines).order_by(machines.c.created_at, machines.c.name)
        if not include_revoked:
            query = query.where(machines.c.revoked_at.is_(None))
        async with self._engine.connect() as conn:
            return list(await conn.execute(query))

    async def find_machines(
        self, ids: Collection[str], names: Collection[str]
    ) -> builtins.list[Any]:
        """The machines, revoked or not, whose id is one of ``ids`` or name one of ``names``."""
        query = select(machines).where(or_(machines.c.id.in_(ids), machines.c.name.in_(names)))
        async with self._engine.connect() as conn:
            return list(await conn.execute(query))

    async def revoke_machine(
        self,
        field: Literal["id", "name"],
        value: str,
        now: datetime,
        ending: Callable[[str], None],
        event: Callable[[str, str], AuditEvent],
    ) -> bool:
        """Mark the machine revoked at ``now``, with the audit event ``event(id, name)``; False
        when there is no such machine or it was revoked already. ``ending(id)`` is called before
        the UPDATE, so that a racing verification in this process cannot cache it again."""
        async with begin_write(self._engine) as conn:
            row = (
                await conn.execute(
                    select(machines.c.id, machines.c.name).where(_machine_where(field, value))
                )
            ).first()
            if row is None:
                return False
            ending(row.id)
            done = await conn.execute(
                update(machines)
                .where(machines.c.id == row.id, machines.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if done.rowcount != 1:
                return False
            await self._audit.record(event(row.id, row.name), conn)
        return True

    # -- M2M tokens -----------------------------------------------------------------------------

    async def machine_user_id(self, name: str) -> str | None:
        """The id of the config's machine user ``name``, as tokens name their subject."""
        query = select(machine_users.c.id).where(machine_users.c.name == name)
        async with self._engine.connect() as conn:
            user_id = (await conn.execute(query)).scalar()
        return str(user_id) if user_id is not None else None

    async def insert_token(self, row: Mapping[str, Any], event: AuditEvent) -> None:
        async with begin_write(self._engine) as conn:
            await conn.execute(m2m_tokens.insert().values(**row))
            await self._audit.record(event, conn)

    async def list_tokens(
        self,
        *,
        token_id: str | None = None,
        subject: str | None = None,
        include_revoked: bool = True,
    ) -> tuple[builtins.list[Any], dict[str, str]]:
        """Tokens, oldest first (only ``token_id``, only ``subject``'s, unrevoked ones when
        asked), and the names of the machine users by id."""
        query = select(m2m_tokens).order_by(m2m_tokens.c.created_at, m2m_tokens.c.id)
        if token_id is not None:
            query = query.where(m2m_tokens.c.id == token_id)
        if subject is not None:
            query = query.where(m2m_tokens.c.subject == subject)
        if not include_revoked:
            query = query.where(m2m_tokens.c.revoked_at.is_(None))
        async with self._engine.connect() as conn:
            rows = list(await conn.execute(query))
            names = {
                str(r.id): r.name
                for r in await conn.execute(select(machine_users.c.id, machine_users.c.name))
            }
        return rows, names

    async def revoke_token(
        self, token_id: str, now: datetime, event: Callable[[Any], AuditEvent]
    ) -> bool:
        """Mark the token revoked at ``now``, with the audit event ``event(row)`` (``hint``,
        ``subject``); False when there is no such token or it was revoked already."""
        async with begin_write(self._engine) as conn:
            done = await conn.execute(
                update(m2m_tokens)
                .where(m2m_tokens.c.id == token_id, m2m_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if done.rowcount != 1:
                return False
            row = (
                await conn.execute(
                    select(m2m_tokens.c.hint, m2m_tokens.c.subject).where(
                        m2m_tokens.c.id == token_id
                    )
                )
            ).one()
            await self._audit.record(event(row), conn)
        return True

    async def token_by_digest(self, digest: str) -> tuple[Any, Any | None] | None:
        """The token whose secret has this digest (``id``, ``digest``, ``subject``,
        ``audience``, ``scopes``, ``expires_at``, ``revoked_at``) and its machine user (``name``,
        ``attributes``, ``attribute_list``; None once removed from the config)."""
        user = None
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(_TOKEN_BY_DIGEST.where(m2m_tokens.c.digest == digest))
            ).first()
            if row is None:
                return None
            try:
                user_id = UUID(row.subject)
            except ValueError:
                user_id = None
            if user_id is not None:
                user = (
                    await conn.execute(_MACHINE_USER_OF_TOKEN.where(machine_users.c.id == user_id))
                ).first()
        return row, user
