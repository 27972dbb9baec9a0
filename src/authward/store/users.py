"""The users aggregate's SQL: rows of ``aw_users``, the sign-in's attempt counts
(``aw_login_throttle``, through :class:`~authward.store.limits.Attempts`) and the audit events
written with them.

:class:`UserStore` implements :class:`authward.users.ports.UserStorePort`; the domain service
(passwords, the throttle's keys, claims) lives in :mod:`authward.users`. Rows are handed back by
column name: ``id``, ``username``, ``profile_id``, ``password_hash``, ``disabled``,
``email_verified``, ``created_at``, ``updated_at``.
"""

from __future__ import annotations

__all__ = ["Rehash", "UserStore"]

import builtins
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.audit import AuditEvent, AuditStore, audit_rows
from authward.store.direct import Rows, insert_all
from authward.store.engine import begin_write
from authward.store.limits import Attempts, LimitKey, Taken
from authward.store.schema import users
from authward.store.sessions import new_session_rows


@dataclass(frozen=True, slots=True)
class Rehash:
    """A password hash replaced at sign-in by one with the current parameters."""

    user_id: str
    #: The hash that matched: a concurrent change of the password wins over the rehash.
    replaced: str
    password_hash: str
    at: datetime


# Built once: the sign-in runs them per request, and building a statement costs more CPU than
# running it.
_INSERT_USER = users.insert()
#: The user of a sign-in attempt, read right after its attempt is counted.
_SIGN_IN_READ = select(users).where(users.c.username == bindparam("username"))
_REHASH: Update = (
    update(users)
    .where(users.c.id == bindparam("user_id"), users.c.password_hash == bindparam("replaced"))
    .values(password_hash=bindparam("rehashed"), updated_at=bindparam("at"))
)


class UserStore:
    def __init__(self, engine: AsyncEngine, audit: AuditStore) -> None:
        self._engine = engine
        self._audit = audit
        self._attempts = Attempts(engine)

    # -- managing -------------------------------------------------------------------------------

    async def insert(self, row: Mapping[str, Any], event: AuditEvent) -> bool:
        """The user's row and its audit event, all or nothing. False when the username (or the
        profile record) is taken already: nothing is written then."""
        try:
            await insert_all(self._engine, [(_INSERT_USER, [row]), audit_rows([event])])
        except IntegrityError:
            return False
        return True

    async def get(self, user_id: uuid.UUID) -> Any | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(users).where(users.c.id == user_id))).first()

    async def find(self, username: str) -> Any | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(users).where(users.c.username == username))).first()

    async def list(self) -> builtins.list[Any]:
        query = select(users).order_by(users.c.created_at, users.c.username)
        async with self._engine.connect() as conn:
            return list(await conn.execute(query))

    async def page(
        self, *, after: str | None, limit: int, contains: str | None = None
    ) -> builtins.list[Any]:
        """Up to ``limit`` users by username, after the username ``after``; ``contains``: only
        those whose username holds it, whatever its case."""
        query = select(users).order_by(users.c.username).limit(limit)
        if after is not None:
            query = query.where(users.c.username > after)
        if contains:
            query = query.where(
                func.lower(users.c.username).contains(contains.lower(), autoescape=True)
            )
        async with self._engine.connect() as conn:
            return list(await conn.execute(query))

    async def set_disabled(
        self, username: str, disabled: bool, now: datetime, event: Callable[[str], AuditEvent]
    ) -> Any | None:
        """The user's row once changed, or None when no user has this name. ``event`` makes the
        audit event from the user's id, written in the same transaction."""
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(users)
                .where(users.c.username == username)
                .values(disabled=disabled, updated_at=now)
                .returning(*users.c)
            )
            row = result.first()
            if row is None:
                return None
            await self._audit.record(event(str(row.id)), conn)
        return row

    async def set_password(
        self, username: str, password_hash: str, now: datetime, event: Callable[[str], AuditEvent]
    ) -> bool:
        """False when no user has this name (nothing written)."""
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(users)
                .where(users.c.username == username)
                .values(password_hash=password_hash, updated_at=now)
                .returning(users.c.id)
            )
            user_id = result.scalar_one_or_none()
            if user_id is None:
                return False
            await self._audit.record(event(str(user_id)), conn)
        return True

    # -- signing in -----------------------------------------------------------------------------

    async def take_attempt(
        self, keys: Sequence[LimitKey], now: datetime, username: str | None
    ) -> Taken:
        """Count a sign-in attempt against ``keys`` before its password is checked, or refuse it
        (decision 037); ``Taken.read`` is the row of the user named ``username`` (None: no user),
        read right after, in the same hand-off on SQLite."""
        return await self._attempts.take(keys, now, then=(_SIGN_IN_READ, {"username": username}))

    async def record_refusal(self, event: AuditEvent, *, prune: datetime | None) -> None:
        """A refused attempt's audit row (its attempt is counted already), and with ``prune``
        the counts expired by then: one hand-off on SQLite."""
        batches = [audit_rows([event])]
        if prune is not None:
            batches.append(self._attempts.prune_rows(prune))
        await insert_all(self._engine, batches)

    async def record_login(
        self,
        events: Sequence[AuditEvent],
        *,
        cleared: LimitKey,
        returned: LimitKey | None,
        rehash: Rehash | None = None,
        session: Mapping[str, Any] | None = None,
    ) -> None:
        """What a sign-in that succeeded writes, all or nothing: its audit ``events``, the
        account's count cleared and the address's attempt given back, an outdated hash replaced,
        and the browser ``session`` it started (an ``aw_sessions`` row). One hand-off on SQLite
        (decision 032), committed before this returns."""
        batches: builtins.list[Rows] = []
        if session is not None:
            batches.append(new_session_rows(session))
        batches.append(audit_rows(events))
        batches.append(self._attempts.give_back_rows(cleared, returned))
        if rehash is not None:
            params = {
                "user_id": uuid.UUID(rehash.user_id),
                "replaced": rehash.replaced,
                "rehashed": rehash.password_hash,
                "at": rehash.at,
            }
            batches.append((_REHASH, [params]))
        await insert_all(self._engine, batches)
