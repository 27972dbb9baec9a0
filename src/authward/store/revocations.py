"""Revoked token ids (jti). Only revocations are written: issuing a JWT writes nothing.

Each row carries the revocations counter it was written at (store/changes.py), which is how the
token view reads only the revocations made since its last refresh (store/token_view.py)."""

from __future__ import annotations

__all__ = ["RevocationStore"]

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.changes import bump
from authward.store.engine import begin_write
from authward.store.schema import revoked_tokens


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
            version = await bump(conn, revoked_tokens)
            await conn.execute(
                revoked_tokens.insert().values(
                    jti=jti, expires_at=expires_at, revoked_at=now, reason=reason, version=version
                )
            )
            return True

    async def purge(self, now: datetime) -> int:
        # Not counted: the views drop a revocation from memory once its token has expired.
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                delete(revoked_tokens).where(revoked_tokens.c.expires_at <= now)
            )
            return result.rowcount or 0
