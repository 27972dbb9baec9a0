"""The API keys aggregate's SQL: rows of ``aw_api_keys`` and the audit events written with them.

:func:`revoke_org_keys` runs in the caller's transaction (``Organizations.delete``).
"""

from __future__ import annotations

__all__ = ["revoke_org_keys"]

from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authward.store.audit import AuditEvent, AuditStore
from authward.store.schema import api_keys


async def revoke_org_keys(
    conn: AsyncConnection,
    org_id: str,
    *,
    now: datetime,
    actor: str | None,
    audit: AuditStore,
) -> list[UUID]:
    """Revoke every unrevoked key of ``org_id`` in the caller's transaction, with an
    ``apikey.revoked`` event each (``reason: org.deleted``). Returns their ids. No process's
    cache is told: use :meth:`authward.channel.api_keys.ApiKeys.revoke_org_keys` for that."""
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
