"""Revoked token ids (jti). Only revocations are written: issuing a JWT writes nothing."""

from __future__ import annotations

__all__ = ["LIVE_REVOCATIONS", "RevocationStore"]

from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.store.engine import begin_write, reading
from authward.store.schema import revoked_tokens

#: Ids revoked whose tokens have not expired yet (parameter: ``now``).
LIVE_REVOCATIONS = select(revoked_tokens.c.jti).where(
    revoked_tokens.c.expires_at > bindparam("now")
)


class RevocationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def revoke(self, jti: str, *, expires_at: datetime, now: datetime, reason: str) -> bool:
        """Record a revocation; returns False when it was already revoked."""
        async with begin_write(self._engine) as conn:
            exists = await conn.execute(
                select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti)
            )
            if exists.first() is not None:
                return False
            await conn.execute(
                revoked_tokens.insert().values(
                    jti=jti, expires_at=expires_at, revoked_at=now, reason=reason
                )
            )
            return True

    async def live(self, now: datetime, conn: AsyncConnection | None = None) -> set[str]:
        """Ids revoked whose tokens have not expired yet (expired ones are refused anyway)."""
        async with reading(self._engine, conn) as c:
            return set((await c.execute(LIVE_REVOCATIONS, {"now": now})).scalars())

    async def purge(self, now: datetime) -> int:
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                delete(revoked_tokens).where(revoked_tokens.c.expires_at <= now)
            )
            return result.rowcount or 0
