"""The instance row's issuer: the one `authward serve` answers as, for the other commands
that open the same store without ``AUTHWARD_ISSUER`` (decision 033)."""

from __future__ import annotations

__all__ = ["checked_instance_keys", "record_issuer", "recorded_issuer"]

from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.crypto.instance_key import InstanceKeys
from authward.crypto.secretbox import key_id
from authward.errors import SettingsError
from authward.store.engine import begin_write, write_transaction
from authward.store.schema import instance


class _LoadKeys(Protocol):
    def __call__(self, *, may_create: bool) -> InstanceKeys: ...


async def checked_instance_keys(engine: AsyncEngine, load: _LoadKeys) -> InstanceKeys:
    """The instance keys (``load(may_create=...)``: a new key only for a new store), checked
    against the one recorded when this store was created, which the first call records."""
    async with write_transaction(engine) as conn:
        row = (await conn.execute(select(instance.c.key_id))).first()
        keys = load(may_create=row is None)
        if row is None:
            await conn.execute(
                instance.insert().values(
                    id=1, key_id=key_id(keys.keys[0]).hex(), created_at=datetime.now(UTC)
                )
            )
        elif row.key_id not in {key_id(k).hex() for k in keys.keys}:
            raise SettingsError(
                f"the instance key ({keys.source}) is not the one this store's secrets were "
                "sealed with: restore the original key file or AUTHWARD_SECRET_KEY"
            )
    return keys


async def recorded_issuer(engine: AsyncEngine) -> str | None:
    """The issuer the last `authward serve` on this store answered as (None: never served)."""
    async with engine.connect() as conn:
        return (await conn.execute(select(instance.c.issuer))).scalar_one_or_none()


async def record_issuer(engine: AsyncEngine, issuer: str) -> None:
    # Only when it differs: a restart on the same address writes nothing.
    changed = (instance.c.issuer.is_(None)) | (instance.c.issuer != issuer)
    async with begin_write(engine) as conn:
        await conn.execute(instance.update().where(changed).values(issuer=issuer))
