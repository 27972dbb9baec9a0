"""Dynamic triggers' webhook registrations and the deliveries seen (``aw_webhook_*``, 0011).

Each registration's HMAC secret is sealed with the instance key, bound to its row by the
associated data.

The ingest reads a registration through ``for_delivery``: the row and its opened secret are
cached per registration id for ``refresh_seconds``. That is safe because a registration row never
changes: re-registering a key stores a new row under a new id and deletes the old one. So the
only news a cached entry can miss is a deletion by another process, and a delivery to a deleted
registration still answers 404, because its delivery row's foreign key refuses the write. This
process's own ``replace`` and ``delete`` drop the entry at once.
"""

from __future__ import annotations

__all__ = ["WebhookRegistration", "WebhookStore", "secret_aad"]

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from authward.jobs._sql import Writer, insert_ignore
from authward.jobs.ports import Sealer
from authward.store.schema import webhook_deliveries, webhook_registrations

_R = webhook_registrations.c
_D = webhook_deliveries.c
#: Registrations kept in memory per process; the oldest loaded is dropped first beyond this.
_CACHE_SIZE = 4096


def secret_aad(registration_id: str) -> str:
    return f"aw_webhook_registrations.secret:{registration_id}"


@dataclass(frozen=True, slots=True)
class WebhookRegistration:
    id: str
    client_id: str
    dynamic_trigger_id: str
    key: str
    params: Mapping[str, Any]
    account_id: str | None
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    sealed_secret: bytes = field(repr=False)


def _registration(r: Any) -> WebhookRegistration:
    return WebhookRegistration(
        id=r["id"],
        client_id=r["client_id"],
        dynamic_trigger_id=r["dynamic_trigger_id"],
        key=r["key"],
        params=dict(r["params"]),
        account_id=r["account_id"],
        external_id=r["external_id"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        sealed_secret=bytes(r["secret"]),
    )


@dataclass(frozen=True, slots=True)
class DeliveryTarget:
    """What the ingest needs of a registration: the row and its opened HMAC secret."""

    registration: WebhookRegistration
    secret: bytes = field(repr=False)
    loaded_at: float = field(repr=False)


class WebhookStore:
    def __init__(self, writer: Writer, box: Sealer, *, refresh_seconds: float) -> None:
        self.writer = writer
        self._box = box
        self._refresh_seconds = refresh_seconds
        self._targets: dict[str, DeliveryTarget] = {}
        self._loading: dict[str, asyncio.Task[DeliveryTarget | None]] = {}
        # Bumped by every invalidation, so a read that started before it is not cached after it.
        self._generation = 0

    def seal(self, registration_id: str, secret: str) -> bytes:
        return self._box.seal(secret.encode(), secret_aad(registration_id))

    async def for_delivery(self, registration_id: str) -> DeliveryTarget | None:
        """The registration and its opened secret, from memory when read less than
        ``refresh_seconds`` ago; one store read per registration at a time."""
        target = self._targets.get(registration_id)
        if target is not None and time.monotonic() - target.loaded_at < self._refresh_seconds:
            return target
        task = self._loading.get(registration_id)
        if task is None:
            task = asyncio.ensure_future(self._load(registration_id, self._generation))
            self._loading[registration_id] = task
            task.add_done_callback(lambda done: self._loaded(registration_id, done))
        # Shielded: one caller giving up must not cancel the read the others wait for.
        return await asyncio.shield(task)

    def _loaded(self, registration_id: str, task: asyncio.Task[DeliveryTarget | None]) -> None:
        if self._loading.get(registration_id) is task:
            del self._loading[registration_id]
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter was cancelled

    async def _load(self, registration_id: str, generation: int) -> DeliveryTarget | None:
        registration = await self.get(registration_id)
        if registration is None:
            self._targets.pop(registration_id, None)
            return None
        previous = self._targets.get(registration_id)
        sealed = registration.sealed_secret
        if previous is not None and previous.registration.sealed_secret == sealed:
            secret = previous.secret
        else:
            secret = self._box.open(registration.sealed_secret, secret_aad(registration.id))
        target = DeliveryTarget(registration, secret, time.monotonic())
        if generation == self._generation:
            self._targets.pop(registration_id, None)  # re-inserted last: evicted last
            self._targets[registration_id] = target
            if len(self._targets) > _CACHE_SIZE:
                del self._targets[next(iter(self._targets))]
        return target

    def forget(self, registration_id: str) -> None:
        """Drop a registration from memory (deleted, replaced, or refused by the store)."""
        self._generation += 1
        self._targets.pop(registration_id, None)

    async def get(self, registration_id: str) -> WebhookRegistration | None:
        async with self.writer.engine.connect() as conn:
            row = (
                (await conn.execute(select(webhook_registrations).where(_R.id == registration_id)))
                .mappings()
                .first()
            )
        return _registration(row) if row is not None else None

    async def find(self, dynamic_trigger_id: str, key: str) -> WebhookRegistration | None:
        query = select(webhook_registrations).where(
            _R.dynamic_trigger_id == dynamic_trigger_id, _R.key == key
        )
        async with self.writer.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _registration(row) if row is not None else None

    async def list(self, dynamic_trigger_id: str | None = None) -> list[WebhookRegistration]:
        query = select(webhook_registrations).order_by(_R.dynamic_trigger_id, _R.key)
        if dynamic_trigger_id is not None:
            query = query.where(_R.dynamic_trigger_id == dynamic_trigger_id)
        async with self.writer.engine.connect() as conn:
            return [_registration(r) for r in (await conn.execute(query)).mappings()]

    async def replace(self, row: dict[str, Any]) -> WebhookRegistration | None:
        """Store a registration in place of the one with its (trigger, key); return that one.

        Two registrations of one key racing: the loser's insert hits the unique key, and it
        tries again, now replacing the winner (the last one stored wins, as a re-register)."""
        for attempt in range(3):
            try:
                async with self.writer.transaction() as conn:
                    query = select(webhook_registrations).where(
                        _R.dynamic_trigger_id == row["dynamic_trigger_id"], _R.key == row["key"]
                    )
                    if conn.dialect.name == "postgresql":
                        query = query.with_for_update()
                    old = (await conn.execute(query)).mappings().first()
                    if old is not None:
                        await conn.execute(delete(webhook_registrations).where(_R.id == old["id"]))
                    await conn.execute(webhook_registrations.insert().values(**row))
                if old is None:
                    return None
                self.forget(old["id"])
                return _registration(old)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def delete(self, registration_id: str) -> bool:
        async with self.writer.transaction() as conn:
            result = await conn.execute(
                delete(webhook_registrations).where(_R.id == registration_id)
            )
        self.forget(registration_id)
        return bool(result.rowcount)

    @staticmethod
    async def record_delivery(conn: AsyncConnection, row: dict[str, Any]) -> bool:
        """Insert a delivery once; False when its id was seen before for that registration."""
        return await insert_ignore(conn, webhook_deliveries, row)

    @staticmethod
    async def delivery_runs(
        conn: AsyncConnection, registration_id: str, delivery_id: str
    ) -> tuple[str, ...]:
        query = select(_D.run_ids).where(
            _D.registration_id == registration_id, _D.delivery_id == delivery_id
        )
        found = (await conn.execute(query)).scalar_one_or_none()
        return tuple(found or ())
