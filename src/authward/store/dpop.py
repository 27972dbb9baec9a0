"""The DPoP replay cache: one row per accepted proof, shared by every server process.

A proof is remembered with one statement: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE the row
has expired ... RETURNING``, run by :func:`~authward.store.direct.write_returning` (one hand-off
on SQLite, one round trip on PostgreSQL; decision 043). The unique key makes the database the
referee between processes (SQLite's write lock, PostgreSQL's unique index), and a row whose
proof could no longer be accepted anyway is taken over instead of blocking. Expired rows are
deleted in batches, by whichever request comes first after ``sweep_seconds`` (sooner while a
batch comes back full), through the ``expires_at`` index: the table holds about one proof
lifetime (65 s) of traffic.
"""

from __future__ import annotations

__all__ = ["DpopJtiStore"]

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.store.direct import write_returning
from authward.store.engine import begin_write
from authward.store.schema import dpop_proofs


class DpopJtiStore:
    def __init__(
        self, engine: AsyncEngine, *, sweep_seconds: float = 5.0, sweep_batch: int = 5000
    ) -> None:
        self._engine = engine
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._sweep_seconds = sweep_seconds
        self._sweep_batch = sweep_batch
        self._last_sweep = float("-inf")
        # Built once: it runs for every proof.
        insert: Any = dialect.insert(dpop_proofs).values(
            digest=bindparam("digest"), expires_at=bindparam("expires_at")
        )
        self._remember = insert.on_conflict_do_update(
            index_elements=[dpop_proofs.c.digest],
            set_={"expires_at": insert.excluded.expires_at},
            where=dpop_proofs.c.expires_at <= bindparam("now"),
        ).returning(dpop_proofs.c.digest)

    async def remember(self, key: str, expires_at: int) -> bool:
        """Record ``key`` (a digest) until ``expires_at`` (Unix seconds); False when it is there
        already and has not expired."""
        now = datetime.now(UTC)
        params = {"digest": key, "expires_at": datetime.fromtimestamp(expires_at, UTC), "now": now}
        rows, _ = await write_returning(self._engine, self._remember, params)
        if time.monotonic() - self._last_sweep >= self._sweep_seconds:
            self._last_sweep = time.monotonic()
            async with begin_write(self._engine) as conn:
                if await self._sweep(conn, now) >= self._sweep_batch:
                    self._last_sweep = float("-inf")  # more to go: the next request goes on
        return len(rows) == 1

    async def _sweep(self, conn: AsyncConnection, now: datetime) -> int:
        expired = (
            select(dpop_proofs.c.digest)
            .where(dpop_proofs.c.expires_at <= now)
            .limit(self._sweep_batch)
        )
        result = await conn.execute(delete(dpop_proofs).where(dpop_proofs.c.digest.in_(expired)))
        return result.rowcount or 0
