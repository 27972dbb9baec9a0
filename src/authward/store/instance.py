"""The instance row's issuer: the one `authward serve` answers as, for the other commands
that open the same store without ``AUTHWARD_ISSUER`` (decision 033)."""

from __future__ import annotations

__all__ = ["record_issuer", "recorded_issuer"]

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.engine import begin_write
from authward.store.schema import instance


async def recorded_issuer(engine: AsyncEngine) -> str | None:
    """The issuer the last `authward serve` on this store answered as (None: never served)."""
    async with engine.connect() as conn:
        return (await conn.execute(select(instance.c.issuer))).scalar_one_or_none()


async def record_issuer(engine: AsyncEngine, issuer: str) -> None:
    # Only when it differs: a restart on the same address writes nothing.
    changed = (instance.c.issuer.is_(None)) | (instance.c.issuer != issuer)
    async with begin_write(engine) as conn:
        await conn.execute(instance.update().where(changed).values(issuer=issuer))
