"""The organizations aggregate's SQL: rows of ``aw_organizations`` and ``aw_memberships`` and the
audit events written with them.

:class:`OrgStore` implements :class:`authward.identity.org_ports.OrgStorePort`; the domain service
(validation, roles and their permissions, the audit events' content) lives in
:mod:`authward.identity.orgs`. Rows are handed back as SQLAlchemy rows (attribute access by column
name). An organization is asked for by its id or its slug: a slug has no ``_``, an id always has
one.
"""

from __future__ import annotations

__all__ = ["KeyRevoker", "OrgStore"]

import builtins
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.store.audit import AuditEvent, AuditStore
from authward.store.engine import begin_write
from authward.store.schema import memberships, organizations

#: Revokes an organization's API keys in the caller's transaction; returns their ids.
KeyRevoker = Callable[[AsyncConnection, str], Awaitable[Sequence[UUID]]]


class OrgStore:
    def __init__(self, engine: AsyncEngine, audit: AuditStore) -> None:
        self._engine = engine
        self._audit = audit

    # -- organizations --------------------------------------------------------------------------

    async def insert(self, row: Mapping[str, Any], event: AuditEvent) -> bool:
        """The organization's row and its audit event. False when its slug is taken (nothing
        written)."""
        try:
            async with begin_write(self._engine) as conn:
                if await _find(conn, row["slug"]) is not None:
                    return False
                await conn.execute(organizations.insert().values(**row))
                await self._audit.record(event, conn)
        except IntegrityError:
            # Two creators raced for the slug: the unique index decided.
            return False
        return True

    async def find(self, org: str) -> Any | None:
        """The organization with this id or slug."""
        async with self._engine.connect() as conn:
            return await _find(conn, org)

    async def list(
        self, *, after: str | None = None, limit: int | None = None
    ) -> builtins.list[Any]:
        """Organizations by slug: those after the slug ``after``, at most ``limit``."""
        query = select(organizations).order_by(organizations.c.slug).limit(limit)
        if after is not None:
            query = query.where(organizations.c.slug > after)
        async with self._engine.connect() as conn:
            return list(await conn.execute(query))

    async def delete(
        self,
        org: str,
        revoke_keys: KeyRevoker,
        event: Callable[[Any, int, int], AuditEvent],
    ) -> Any | None:
        """Delete the organization and its memberships, have ``revoke_keys`` revoke its API keys,
        and record ``event(organization, memberships removed, keys revoked)``: one transaction.
        Returns the deleted organization's row; None when there is none."""
        async with begin_write(self._engine) as conn:
            found = await _find(conn, org)
            if found is None:
                return None
            removed = await conn.execute(
                delete(memberships).where(memberships.c.org_id == found.id)
            )
            # The organization's row goes first: a key being created for it concurrently holds a
            # share lock on that row (PostgreSQL), so its key is either committed before the
            # revocation below reads the keys, or refused for want of the row.
            await conn.execute(delete(organizations).where(organizations.c.id == found.id))
            revoked = await revoke_keys(conn, found.id)
            await self._audit.record(event(found, removed.rowcount, len(revoked)), conn)
        return found

    # -- members --------------------------------------------------------------------------------

    async def add_member(
        self, org: str, row: Mapping[str, Any], event: Callable[[Any], AuditEvent]
    ) -> tuple[Any | None, bool]:
        """Make ``row`` (``user_id``, ``role``, ``created_at``, ``updated_at``) a membership of
        the organization, with ``event(organization)``. Returns the organization's row (None when
        there is none) and whether the user was added (False: already a member, nothing
        written)."""
        found = None
        try:
            async with begin_write(self._engine) as conn:
                found = await _find(conn, org)
                if found is None:
                    return None, False
                if await _role_of(conn, found.id, row["user_id"]) is not None:
                    return found, False
                await conn.execute(memberships.insert().values(org_id=found.id, **row))
                await self._audit.record(event(found), conn)
        except IntegrityError:
            # Two adders raced for the user: the primary key decided.
            return found, False
        return found, True

    async def set_role(
        self,
        org: str,
        user_id: str,
        role: str,
        now: datetime,
        event: Callable[[Any, str], AuditEvent],
    ) -> tuple[Any | None, Any | None]:
        """Give the member ``role`` (``updated_at`` = ``now``) and record ``event(organization,
        former role)``; nothing is written when the role is the same. Returns the organization's
        row and the membership's row as it was before (None for either when there is none)."""
        async with begin_write(self._engine) as conn:
            found = await _find(conn, org)
            if found is None:
                return None, None
            where = (memberships.c.org_id == found.id, memberships.c.user_id == user_id)
            row = (await conn.execute(select(memberships).where(*where))).first()
            if row is None or row.role == role:
                return found, row
            await conn.execute(update(memberships).where(*where).values(role=role, updated_at=now))
            await self._audit.record(event(found, row.role), conn)
        return found, row

    async def remove_member(
        self, org: str, user_id: str, event: Callable[[Any, str], AuditEvent]
    ) -> tuple[Any | None, str | None]:
        """Remove the membership and record ``event(organization, its role)``. Returns the
        organization's row and the role the user had (None for either when there is none)."""
        async with begin_write(self._engine) as conn:
            found = await _find(conn, org)
            if found is None:
                return None, None
            role = await _role_of(conn, found.id, user_id)
            if role is None:
                return found, None
            await conn.execute(
                delete(memberships).where(
                    memberships.c.org_id == found.id, memberships.c.user_id == user_id
                )
            )
            await self._audit.record(event(found, role), conn)
        return found, role

    async def members(self, org: str) -> tuple[Any | None, builtins.list[Any]]:
        """The organization's row and its memberships, by user id (None and [] when there is no
        such organization)."""
        async with self._engine.connect() as conn:
            found = await _find(conn, org)
            if found is None:
                return None, []
            rows = await conn.execute(
                select(memberships)
                .where(memberships.c.org_id == found.id)
                .order_by(memberships.c.user_id)
            )
            return found, list(rows)

    async def memberships_of(self, user_id: str) -> builtins.list[Any]:
        """The user's memberships with their organization's ``slug``, by slug."""
        query = (
            select(memberships, organizations.c.slug)
            .join(organizations, organizations.c.id == memberships.c.org_id)
            .where(memberships.c.user_id == user_id)
            .order_by(organizations.c.slug)
        )
        async with self._engine.connect() as conn:
            return list(await conn.execute(query))

    async def role_of(self, org: str, user_id: str) -> str | None:
        """The user's role in the organization; None when not a member or no such organization."""
        async with self._engine.connect() as conn:
            found = await _find(conn, org)
            if found is None:
                return None
            return await _role_of(conn, found.id, user_id)


async def _find(conn: AsyncConnection, org: str) -> Any | None:
    column = organizations.c.id if "_" in org else organizations.c.slug
    return (await conn.execute(select(organizations).where(column == org))).first()


async def _role_of(conn: AsyncConnection, org_id: str, user_id: str) -> str | None:
    row = (
        await conn.execute(
            select(memberships.c.role).where(
                memberships.c.org_id == org_id, memberships.c.user_id == user_id
            )
        )
    ).first()
    return str(row.role) if row is not None else None
