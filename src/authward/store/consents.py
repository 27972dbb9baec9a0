"""What each user allowed each OAuth client: remembered per user and client, revocable.

A consent is the set of scopes a user granted a client. An authorization request whose scopes
are all in that set needs no new consent; one asking for more asks again, and what the user then
allows is added. Revoking forgets the consent (the consent page shows again next time).
"""

from __future__ import annotations

__all__ = ["Consent", "ConsentStore"]

import builtins
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.audit import AuditEvent, AuditStore
from authward.store.engine import write_transaction
from authward.store.schema import consents


@dataclass(frozen=True, slots=True)
class Consent:
    user_id: str
    client_id: str
    scopes: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


def _consent(r: Row[Any]) -> Consent:
    return Consent(r.user_id, r.client_id, tuple(r.scopes), r.created_at, r.updated_at)


class ConsentStore:
    """``Authward.consents``."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        audit: AuditStore,
        end_grants: Callable[[str, str], Awaitable[object]] | None = None,
    ) -> None:
        """``end_grants(user_id, client_id)`` revokes the tokens the client holds for the user
        once the consent is revoked."""
        self._engine = engine
        self._audit = audit
        self._end_grants = end_grants

    async def get(self, user_id: str, client_id: str) -> Consent | None:
        query = select(consents).where(
            consents.c.user_id == user_id, consents.c.client_id == client_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _consent(row) if row else None

    async def covers(self, user_id: str, client_id: str, scopes: tuple[str, ...]) -> bool:
        """Whether the user already allowed this client every one of ``scopes``."""
        found = await self.get(user_id, client_id)
        return found is not None and set(scopes) <= set(found.scopes)

    async def list(self, user_id: str) -> builtins.list[Consent]:
        query = select(consents).where(consents.c.user_id == user_id).order_by(consents.c.client_id)
        async with self._engine.connect() as conn:
            return [_consent(r) for r in await conn.execute(query)]

    async def grant(
        self, user_id: str, client_id: str, scopes: tuple[str, ...], *, ip: str | None = None
    ) -> Consent:
        """Remember that the user allowed ``scopes`` (added to what was allowed before)."""
        now = datetime.now(UTC)
        key = (consents.c.user_id == user_id, consents.c.client_id == client_id)
        async with write_transaction(self._engine) as conn:
            row = (await conn.execute(select(consents).where(*key))).first()
            if row is None:
                merged = tuple(scopes)
                created = now
                await conn.execute(
                    consents.insert().values(
                        user_id=user_id,
                        client_id=client_id,
                        scopes=list(merged),
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                merged = tuple(dict.fromkeys((*row.scopes, *scopes)))
                created = row.created_at
                await conn.execute(
                    consents.update().where(*key).values(scopes=list(merged), updated_at=now)
                )
            await self._audit.record(
                AuditEvent(
                    "consent.granted",
                    now,
                    actor=user_id,
                    subject=user_id,
                    client_id=client_id,
                    ip=ip,
                    detail={"scopes": list(scopes)},
                ),
                conn,
            )
        return Consent(user_id, client_id, merged, created, now)

    async def deny(
        self, user_id: str, client_id: str, scopes: tuple[str, ...], *, ip: str | None = None
    ) -> None:
        """Record that the user refused (nothing is remembered: the next request asks again)."""
        await self._audit.record(
            AuditEvent(
                "consent.denied",
                datetime.now(UTC),
                actor=user_id,
                subject=user_id,
                client_id=client_id,
                ip=ip,
                detail={"scopes": list(scopes)},
            )
        )

    async def revoke(self, user_id: str, client_id: str, *, actor: str | None = None) -> bool:
        """Forget the consent; ``False`` if there was none."""
        now = datetime.now(UTC)
        async with write_transaction(self._engine) as conn:
            done = await conn.execute(
                delete(consents).where(
                    consents.c.user_id == user_id, consents.c.client_id == client_id
                )
            )
            if not done.rowcount:
                return False
            await self._audit.record(
                AuditEvent(
                    "consent.revoked",
                    now,
                    actor=actor or user_id,
                    subject=user_id,
                    client_id=client_id,
                ),
                conn,
            )
        if self._end_grants is not None:
            await self._end_grants(user_id, client_id)
        return True
