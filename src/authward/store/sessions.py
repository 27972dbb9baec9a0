"""The sessions aggregate's SQL: rows of ``aw_sessions`` and the audit events written with them.

:class:`SessionStore` implements :class:`authward.identity.sessions.SessionStorePort`; the domain
service (minting, verification, the in-memory view) lives in :mod:`authward.identity.sessions`.
Rows are handed back as SQLAlchemy rows (attribute access by column name).
"""

from __future__ import annotations

__all__ = ["SessionStore", "new_session_rows"]

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.audit import AuditEvent, AuditStore, audit_rows
from authward.store.direct import Rows, insert_all
from authward.store.engine import begin_write
from authward.store.keys import SigningKeyStore
from authward.store.records import StoredKey
from authward.store.schema import memberships, sessions

# Built once: sign-in creates a session per request, and building the statement costs more CPU
# than running it.
_INSERT_SESSION = sessions.insert()


def new_session_rows(row: Mapping[str, Any]) -> Rows:
    """A new session's row, for :func:`~authward.store.direct.insert_all` in another store's
    transaction (a password sign-in: :meth:`authward.store.users.UserStore.record_login`)."""
    return (_INSERT_SESSION, [row])


class SessionStore:
    def __init__(self, engine: AsyncEngine, keys: SigningKeyStore, audit: AuditStore) -> None:
        self._engine = engine
        self._keys = keys
        self._audit = audit

    async def insert(self, row: Mapping[str, Any], events: Sequence[AuditEvent]) -> None:
        """The session's row and its audit events, all or nothing: one hand-off on SQLite
        (decision 032)."""
        await insert_all(self._engine, [new_session_rows(row), audit_rows(events)])

    async def get(self, session_id: str) -> Any | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(sessions).where(sessions.c.id == session_id))).first()

    async def by_digest(self, digest: str) -> Any | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(sessions).where(sessions.c.digest == digest))).first()

    async def list(self, user_id: str, active_at: datetime | None) -> builtins.list[Any]:
        """The user's sessions, newest first; only those active at ``active_at`` unless None."""
        query = (
            select(sessions)
            .where(sessions.c.user_id == user_id)
            .order_by(sessions.c.created_at.desc(), sessions.c.id)
        )
        if active_at is not None:
            query = query.where(sessions.c.revoked_at.is_(None), sessions.c.expires_at > active_at)
        async with self._engine.connect() as conn:
            return list(await conn.execute(query))

    async def active(self, now: datetime, offset: int, limit: int) -> builtins.list[Any]:
        """Every user's sessions active at ``now``, newest first, one page."""
        query = (
            select(sessions)
            .where(sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)
            .order_by(sessions.c.created_at.desc(), sessions.c.id)
            .offset(offset)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return list(await conn.execute(query))

    async def touch(self, digest: str, now: datetime, check: Callable[[Any], None]) -> Any | None:
        """The session whose secret has this digest, with its user's role in its active
        organization (``member_role``), marked active at ``now`` once ``check`` accepts it (it
        raises to refuse; nothing is written then). None when no row has the digest."""
        query = (
            select(sessions, memberships.c.role.label("member_role"))
            .outerjoin(
                memberships,
                and_(
                    memberships.c.org_id == sessions.c.active_org_id,
                    memberships.c.user_id == sessions.c.user_id,
                ),
            )
            .where(sessions.c.digest == digest)
        )
        async with begin_write(self._engine) as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            check(row)
            await conn.execute(
                update(sessions).where(sessions.c.id == row.id).values(last_active_at=now)
            )
        return row

    async def set_active_org(self, session_id: str, org_id: str | None, event: AuditEvent) -> bool:
        """False when the session has ended (nothing written)."""
        async with begin_write(self._engine) as conn:
            done = await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                .values(active_org_id=org_id)
            )
            if done.rowcount != 1:
                return False
            await self._audit.record(event, conn)
        return True

    async def revoke(
        self,
        session_id: str,
        now: datetime,
        ending: Callable[[Mapping[str, float]], None],
        event: Callable[[str], AuditEvent],
    ) -> bool:
        """End one session. ``ending`` hears of it (session id -> expiry) before the row
        changes; ``event`` makes the audit event from the session's user id. False when
        unknown or already ended."""
        async with begin_write(self._engine) as conn:
            row = (
                await conn.execute(
                    select(sessions.c.user_id, sessions.c.expires_at).where(
                        sessions.c.id == session_id
                    )
                )
            ).first()
            if row is None:
                return False
            ending({session_id: row.expires_at.timestamp()})
            done = await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if done.rowcount != 1:
                return False
            await self._audit.record(event(row.user_id), conn)
        return True

    async def revoke_all(
        self,
        user_id: str,
        except_session: str | None,
        now: datetime,
        ending: Callable[[Mapping[str, float]], None],
        event: Callable[[builtins.list[str]], AuditEvent],
    ) -> int:
        """End the user's live sessions but ``except_session``; as :meth:`revoke`, ``event``
        from the ended sessions' ids, sorted. Returns how many ended."""
        async with begin_write(self._engine) as conn:
            query = select(sessions.c.id, sessions.c.expires_at).where(
                sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)
            )
            if except_session is not None:
                query = query.where(sessions.c.id != except_session)
            live = {r.id: r.expires_at.timestamp() for r in await conn.execute(query)}
            if not live:
                return 0
            ending(live)
            await conn.execute(
                update(sessions)
                .where(sessions.c.id.in_(list(live)), sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            await self._audit.record(event(sorted(live)), conn)
        return len(live)

    async def state(self, session_id: str) -> Any | None:
        """``user_id``, ``expires_at`` and ``revoked_at`` of one session: what verification
        keeps in memory."""
        query = select(sessions.c.user_id, sessions.c.expires_at, sessions.c.revoked_at).where(
            sessions.c.id == session_id
        )
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).first()

    async def feed(
        self, since: datetime, now: datetime
    ) -> tuple[builtins.list[StoredKey], builtins.list[str]]:
        """The published keys at ``now`` and the ids of the sessions revoked since ``since``,
        in one connection."""
        async with self._engine.connect() as conn:
            published = await self._keys.published(now, conn)
            revoked = [
                r.id
                for r in await conn.execute(
                    select(sessions.c.id).where(sessions.c.revoked_at >= since)
                )
            ]
        return published, revoked
