"""The API keys aggregate's SQL: rows of ``aw_api_keys`` and the audit events written with them.

:class:`ApiKeyStore` implements :class:`authward.identity.api_key_ports.ApiKeyStorePort`; the
domain service (rules, verification and its cache) lives in :mod:`authward.identity.api_keys`.
Rows are handed back as SQLAlchemy rows (attribute access by column name).
:func:`revoke_org_keys` runs in the caller's transaction (``Organizations.delete``).
"""

from __future__ import annotations

__all__ = ["ApiKeyStore", "Transaction", "revoke_org_keys"]

import builtins
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NoReturn
from uuid import UUID

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.store.audit import AuditEvent, AuditStore
from authward.store.engine import begin_write, unusable
from authward.store.schema import api_keys, organizations

#: An open transaction of the store's engine, as ``Organizations.delete`` hands it over.
Transaction = AsyncConnection

# Built once: every flush runs it, with one parameter set per key.
_RECORD_USE = (
    update(api_keys)
    .where(
        api_keys.c.id == bindparam("b_id"),
        # Never move it backwards past a later use another process already wrote.
        or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < bindparam("b_at")),
    )
    .values(last_used_at=bindparam("b_at"))
)


def _org_column(org: str) -> Any:
    # As Organizations: an organization id always contains "_", a slug never does.
    return organizations.c.id if "_" in org else organizations.c.slug


class ApiKeyStore:
    def __init__(self, engine: AsyncEngine, audit: AuditStore) -> None:
        self._engine = engine
        self._audit = audit

    async def insert(
        self,
        row: Mapping[str, Any],
        event: Callable[[str | None], AuditEvent],
        unknown_org: Callable[[str], NoReturn],
    ) -> str | None:
        """The key's row and the audit event ``event(org_id)``: all or nothing. A row's
        ``org_id`` names an existing organization by id or slug; the row records its id, which
        is returned. ``unknown_org(org)`` raises when there is none (nothing is written)."""
        org_id: str | None = row["org_id"]
        async with begin_write(self._engine) as conn:
            await conn.execute(api_keys.insert().values(**row))
            if org_id is not None:
                # After the insert, in the same transaction: on SQLite the insert has taken the
                # write lock, so the organization cannot be deleted between this read and the
                # commit (on PostgreSQL the row stays share-locked until the commit);
                # Organizations.delete therefore sees and revokes this key.
                given, org_id = org_id, await self._existing_org(conn, org_id, unknown_org)
                if org_id != given:  # named by its slug: the key records the id
                    await conn.execute(
                        update(api_keys).where(api_keys.c.id == row["id"]).values(org_id=org_id)
                    )
            await self._audit.record(event(org_id), conn)
        return org_id

    @staticmethod
    async def _existing_org(
        conn: AsyncConnection, org: str, unknown_org: Callable[[str], NoReturn]
    ) -> str:
        query = select(organizations.c.id).where(_org_column(org) == org).with_for_update(read=True)
        found = (await conn.execute(query)).first()
        if found is None:
            unknown_org(org)
        return str(found.id)

    async def get(self, key_id: UUID) -> Any | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()

    async def list(
        self,
        user_id: str | None,
        org: str | None,
        include_revoked: bool,
        *,
        after: tuple[datetime, UUID] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Any]:
        """Keys, oldest first, optionally of one user or organization (its id or slug); with
        ``after`` (a key's ``created_at`` and ``id``) only those that follow it, and at most
        ``limit`` of them."""
        c = api_keys.c
        query = select(api_keys).order_by(c.created_at, c.id).limit(limit)
        if after is not None:
            at, key_id = after
            query = query.where(or_(c.created_at > at, and_(c.created_at == at, c.id > key_id)))
        if user_id is not None:
            query = query.where(api_keys.c.user_id == user_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        async with self._engine.connect() as conn:
            if org is not None:
                owners = {org}
                if "_" not in org:  # a slug: the keys record the organization's id
                    found = (
                        await conn.execute(
                            select(organizations.c.id).where(organizations.c.slug == org)
                        )
                    ).first()
                    if found is not None:
                        owners.add(found.id)
                query = query.where(api_keys.c.org_id.in_(sorted(owners)))
            return list(await conn.execute(query))

    async def revoke(self, key_id: UUID, now: datetime, event: Callable[[Any], AuditEvent]) -> bool:
        """Revoke one key; ``event`` makes the audit event from its ``name``, ``hint``,
        ``user_id`` and ``org_id``. False when unknown or already revoked."""
        async with begin_write(self._engine) as conn:
            done = await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if done.rowcount != 1:
                return False
            row = (
                await conn.execute(
                    select(
                        api_keys.c.name, api_keys.c.hint, api_keys.c.user_id, api_keys.c.org_id
                    ).where(api_keys.c.id == key_id)
                )
            ).one()
            await self._audit.record(event(row), conn)
        return True

    async def revoke_org_keys(
        self, conn: Transaction, org_id: str, now: datetime, actor: str | None
    ) -> builtins.list[UUID]:
        """:func:`revoke_org_keys` with this store's audit log."""
        return await revoke_org_keys(conn, org_id, now=now, actor=actor, audit=self._audit)

    async def by_digest(self, digest: str) -> Any | None:
        """What verification reads: ``id``, ``digest``, ``name``, ``user_id``, ``org_id``,
        ``scopes``, ``expires_at`` and ``revoked_at`` of the key with this digest."""
        query = select(
            api_keys.c.id,
            api_keys.c.digest,
            api_keys.c.name,
            api_keys.c.user_id,
            api_keys.c.org_id,
            api_keys.c.scopes,
            api_keys.c.expires_at,
            api_keys.c.revoked_at,
        ).where(api_keys.c.digest == digest)
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).first()

    async def record_uses(self, uses: Mapping[UUID, datetime]) -> None:
        """Move each key's ``last_used_at`` forward to its use, in one batch; a
        :class:`~authward.errors.StoreError` when the database cannot take it."""
        rows = [{"b_id": key_id, "b_at": at} for key_id, at in uses.items()]
        try:
            async with begin_write(self._engine) as conn:
                await conn.execute(_RECORD_USE, rows)
        except SQLAlchemyError as exc:
            raise unusable(self._engine, exc) from exc


async def revoke_org_keys(
    conn: Transaction,
    org_id: str,
    *,
    now: datetime,
    actor: str | None,
    audit: AuditStore,
) -> builtins.list[UUID]:
    """Revoke every unrevoked key of ``org_id`` in the caller's transaction, with an
    ``apikey.revoked`` event each (``reason: org.deleted``). Returns their ids. No process's
    cache is told: use :meth:`authward.identity.api_keys.ApiKeys.revoke_org_keys` for that."""
    rows = (
        await conn.execute(
            select(api_keys.c.id, api_keys.c.name, api_keys.c.hint)
            .where(api_keys.c.org_id == org_id, api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.created_at, api_keys.c.id)
            .with_for_update()
        )
    ).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    await conn.execute(
        update(api_keys)
        .where(api_keys.c.id.in_(ids), api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    for r in rows:
        await audit.record(
            AuditEvent(
                "apikey.revoked",
                now,
                actor=actor,
                subject=org_id,
                detail={
                    "key_id": str(r.id),
                    "name": r.name,
                    "hint": r.hint,
                    "reason": "org.deleted",
                },
            ),
            conn,
        )
    return ids
