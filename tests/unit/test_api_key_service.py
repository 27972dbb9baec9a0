"""The API keys service on an in-memory store: a verification never fails because its uses
could not be written, and those uses are written by a later flush."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any, NoReturn
from uuid import UUID

import pytest

from authward.errors import StoreError
from authward.identity.api_keys import ApiKeys
from authward.store.audit import AuditEvent


class MemoryStore:
    """Rows by digest, as :class:`authward.store.api_keys.ApiKeyStore` keeps them."""

    def __init__(self) -> None:
        self.rows: dict[str, SimpleNamespace] = {}
        self.used: dict[UUID, datetime] = {}
        self.down = False

    async def insert(
        self,
        row: Mapping[str, Any],
        event: Callable[[str | None], AuditEvent],
        unknown_org: Callable[[str], NoReturn],
    ) -> str | None:
        self.rows[row["digest"]] = SimpleNamespace(**row, revoked_at=None, last_used_at=None)
        event(row["org_id"])
        return row["org_id"]  # type: ignore[no-any-return]

    async def get(self, key_id: UUID) -> Any | None:
        return next((r for r in self.rows.values() if r.id == key_id), None)

    async def list(
        self, user_id: str | None, org: str | None, include_revoked: bool
    ) -> builtins.list[Any]:
        return list(self.rows.values())

    async def revoke(self, key_id: UUID, now: datetime, event: Callable[[Any], AuditEvent]) -> bool:
        raise NotImplementedError

    async def revoke_org_keys(
        self, conn: Any, org_id: str, now: datetime, actor: str | None
    ) -> builtins.list[UUID]:
        raise NotImplementedError

    async def by_digest(self, digest: str) -> Any | None:
        return self.rows.get(digest)

    async def record_uses(self, uses: Mapping[UUID, datetime]) -> None:
        if self.down:
            raise StoreError("cannot use database test: disk I/O error")
        self.used.update(uses)


async def test_a_verification_outlives_a_failed_write_of_uses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, now = MemoryStore(), [0.0]
    keys = ApiKeys(store, refresh_seconds=2, clock=lambda: now[0])
    secret, key = await keys.create("k", user_id="u")
    await keys.verify(secret)  # read from the store: nothing to write yet
    store.down = True
    now[0] += 3  # the cached entry is stale: read again, and the use is written then
    assert await keys.verify(secret) == key
    assert store.used == {}
    assert "could not record API key use (will retry)" in caplog.text
    assert secret not in caplog.text
    store.down = False
    assert await keys.flush() == 1
    assert list(store.used) == [key.key_id]
    assert await keys.flush() == 0
