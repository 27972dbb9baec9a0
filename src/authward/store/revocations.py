"""Revoked token ids (jti). Only revocations are written: issuing a JWT writes nothing."""

from __future__ import annotations

__all__ = ["LIVE_REVOCATIONS", "RevocationStore"]

from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.engine import begin_write
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

    async def purge(self, now: datetime) -> int:
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                delete(revoked_tokens).where(revoked_tokens.c.expires_at <= now)
            )
            return result.rowcount or 0
