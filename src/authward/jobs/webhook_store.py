"""Dynamic triggers' webhook registrations and the deliveries seen (``aw_webhook_*``, 0011).

Each registration's HMAC secret is sealed with the instance key, bound to its row by the
associated data; opened secrets are cached in memory (keyed by the sealed value, so a replaced
registration never meets its predecessor's secret).
"""

from __future__ import annotations

__all__ = ["WebhookRegistration", "WebhookStore", "secret_aad"]

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from authward.crypto.secretbox import SecretBox
from authward.jobs._sql import Writer, insert_ignore
from authward.store.schema import webhook_deliveries, webhook_registrations

_R = webhook_registrations.c
_D = webhook_deliveries.c
#: Opened secrets kept in memory; a busy instance has far fewer live registrations per process.
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


class WebhookStore:
    def __init__(self, writer: Writer, box: SecretBox) -> None:
        self.writer = writer
        self._box = box
        self._opened: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()

    def seal(self, registration_id: str, secret: str) -> bytes:
        return self._box.seal(secret.encode(), secret_aad(registration_id))

    def secret(self, registration: WebhookRegistration) -> bytes:
        """The registration's HMAC secret, opened once per process."""
        key = (registration.id, registration.sealed_secret)
        opened = self._opened.get(key)
        if opened is None:
            opened = self._box.open(registration.sealed_secret, secret_aad(registration.id))
            self._opened[key] = opened
            if len(self._opened) > _CACHE_SIZE:
                self._opened.popitem(last=False)
        return opened

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
                return _registration(old) if old is not None else None
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def delete(self, registration_id: str) -> bool:
        async with self.writer.transaction() as conn:
            result = await conn.execute(
                delete(webhook_registrations).where(_R.id == registration_id)
            )
        self._opened = OrderedDict(
            (k, v) for k, v in self._opened.items() if k[0] != registration_id
        )
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
