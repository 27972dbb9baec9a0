"""Workers' liveness records (``aw_job_workers``): one row per worker id while it runs, so that a
worker whose heartbeat stops has its pending runs recovered by exactly one other (the claim is
a conditional update that only one claimer can win)."""

from __future__ import annotations

__all__ = ["Registration", "StaleWorker", "WorkerRecords"]

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.engine import begin_write
from authward.store.schema import job_workers

_W = job_workers.c

#: ``registered``: the row is this start's; ``live``: another start of this worker id holds it
#: with a fresh heartbeat; ``recovering``: another worker is recovering this id's runs.
Registration = Literal["registered", "live", "recovering"]


@dataclass(frozen=True, slots=True)
class StaleWorker:
    id: str
    heartbeat_at: datetime


class WorkerRecords:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def register(
        self, worker_id: str, instance: str, now: datetime, dead_before: datetime
    ) -> Registration:
        """Take the row of ``worker_id`` for this start, unless a live start holds it or
        another worker is recovering its runs."""
        async with begin_write(self._engine) as conn:
            row = (
                await conn.execute(
                    select(_W.instance, _W.heartbeat_at, _W.recovering_by).where(_W.id == worker_id)
                )
            ).first()
            if row is None:
                insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
                inserted = await conn.execute(
                    insert(job_workers)
                    .values(id=worker_id, instance=instance, started_at=now, heartbeat_at=now)
                    .on_conflict_do_nothing()
                )
                return "registered" if inserted.rowcount else "live"
            if row.heartbeat_at >= dead_before and row.instance != instance:
                return "recovering" if row.recovering_by else "live"
            taken = await conn.execute(
                update(job_workers)
                .where(_W.id == worker_id, _W.heartbeat_at == row.heartbeat_at)
                .values(instance=instance, started_at=now, heartbeat_at=now, recovering_by=None)
            )
            return "registered" if taken.rowcount else "live"

    async def beat(self, worker_id: str, instance: str, now: datetime) -> bool:
        """Record that this start is alive; False: its row was taken (it was seen dead)."""
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(job_workers)
                .where(_W.id == worker_id, _W.instance == instance)
                .values(heartbeat_at=now)
            )
            return bool(result.rowcount)

    async def heartbeat(self, worker_id: str) -> datetime | None:
        async with self._engine.connect() as conn:
            query = select(_W.heartbeat_at).where(_W.id == worker_id)
            found: datetime | None = (await conn.execute(query)).scalar_one_or_none()
            return found

    async def stale(self, dead_before: datetime, exclude: str) -> list[StaleWorker]:
        query = select(_W.id, _W.heartbeat_at).where(
            _W.heartbeat_at < dead_before, _W.id != exclude
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [StaleWorker(r.id, r.heartbeat_at) for r in rows]

    async def claim(self, stale: StaleWorker, by: str, now: datetime) -> bool:
        """Become the one worker that recovers ``stale``'s runs. The heartbeat is moved to now
        so that a recoverer that dies too is itself seen stale later, and its claim retaken."""
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(job_workers)
                .where(_W.id == stale.id, _W.heartbeat_at == stale.heartbeat_at)
                .values(recovering_by=by, heartbeat_at=now)
            )
            return bool(result.rowcount)

    async def forget(
        self, worker_id: str, *, instance: str | None = None, by: str | None = None
    ) -> None:
        """Delete a worker's row: this start's own (``instance``) or one recovered (``by``)."""
        statement = delete(job_workers).where(_W.id == worker_id)
        if instance is not None:
            statement = statement.where(_W.instance == instance)
        if by is not None:
            statement = statement.where(_W.recovering_by == by)
        async with begin_write(self._engine) as conn:
            await conn.execute(statement)
