"""Links from an external identity provider's subject to a local user (``aw_external_identities``).

One ``(provider, subject)`` pair signs in as exactly one user; a user may have links to several
providers. Deleting the user deletes its links.
"""

from __future__ import annotations

__all__ = ["ExternalIdentities", "ExternalIdentity"]

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.audit import AuditEvent, AuditStore
from authward.store.schema import external_identities as links


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    provider: str
    subject: str
    user_id: str
    email: str | None
    created_at: datetime
    last_login_at: datetime


def _identity(row: Row[Any]) -> ExternalIdentity:
    return ExternalIdentity(
        provider=row.provider,
        subject=row.subject,
        user_id=str(row.user_id),
        email=row.email,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


class ExternalIdentities:
    def __init__(self, engine: AsyncEngine, *, audit: AuditStore) -> None:
        self._engine = engine
        self._audit = audit

    async def find(self, provider: str, subject: str) -> ExternalIdentity | None:
        query = select(links).where(links.c.provider == provider, links.c.subject == subject)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _identity(row) if row is not None else None

    async def link(
        self,
        provider: str,
        subject: str,
        user_id: str,
        *,
        email: str | None,
        now: datetime,
        existing_user: bool,
    ) -> bool:
        """Link the pair to ``user_id``; ``False`` when the pair is already linked (a race).

        ``existing_user``: the user signed in some other way before (an account takeover, if it
        were wrong), which is audited as ``user.linked``.
        """
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    links.insert().values(
                        provider=provider,
                        subject=subject,
                        user_id=UUID(user_id),
                        email=email,
                        created_at=now,
                        last_login_at=now,
                    )
                )
                if existing_user:
                    await self._audit.record(
                        AuditEvent(
                            "user.linked",
                            now,
                            subject=user_id,
                            detail={"provider": provider, "external_subject": subject},
                        ),
                        conn,
                    )
        except IntegrityError:
            return False
        return True

    async def touch(self, provider: str, subject: str, now: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(links)
                .where(links.c.provider == provider, links.c.subject == subject)
                .values(last_login_at=now)
            )
