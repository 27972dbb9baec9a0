"""Schedules (a job's own interval/cron trigger, and registrations on dynamic schedules) and
their firings. Each occurrence fires exactly once, however many processes tick: due schedule
rows are claimed in batches (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so concurrent schedulers
split a burst instead of queueing on the same rows; SQLite: under the database's write lock),
``next_at`` moves forward only from the value read, and an occurrence's run id is made of the
schedule and the occurrence (``occurrence_run_id``): stored once, and one DBOS workflow id."""

from __future__ import annotations

__all__ = ["Firing", "ScheduleRow", "ScheduleStore"]

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update

from authward.jobs._sql import insert_ignore
from authward.jobs.cron import ScheduleSpec, parse_schedule
from authward.jobs.records import NewRun, ScheduleInfo
from authward.jobs.store import RunStore
from authward.store.schema import job_schedules

_S = job_schedules.c


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    key: str
    client_id: str
    job_id: str | None
    dynamic_schedule_id: str | None
    schedule_id: str | None
    spec: ScheduleSpec
    account_id: str | None
    anchor_at: datetime
    next_at: datetime


@dataclass(frozen=True, slots=True)
class Firing:
    """What firing one due schedule row does: the occurrence it fires, where ``next_at`` moves,
    and the runs it queues."""

    occurrence: datetime
    next_at: datetime
    runs: Sequence[NewRun]


_MOVE = (
    update(job_schedules)
    .where(_S.key == bindparam("b_key"), _S.next_at == bindparam("b_read"))
    .values(next_at=bindparam("b_next"))
)


def _row(r: Any) -> ScheduleRow:
    return ScheduleRow(
        key=r["key"],
        client_id=r["client_id"],
        job_id=r["job_id"],
        dynamic_schedule_id=r["dynamic_schedule_id"],
        schedule_id=r["schedule_id"],
        spec=parse_schedule(r["type"], r["options"]),
        account_id=r["account_id"],
        anchor_at=r["anchor_at"],
        next_at=r["next_at"],
    )


class ScheduleStore:
    def __init__(self, runs: RunStore) -> None:
        self._runs = runs
        self._writer = runs.writer
        self._engine = runs.writer.engine

    async def put(
        self,
        *,
        key: str,
        client_id: str,
        spec: ScheduleSpec,
        now: datetime,
        job_id: str | None = None,
        dynamic_schedule_id: str | None = None,
        schedule_id: str | None = None,
        account_id: str | None = None,
        replace: bool = True,
    ) -> bool:
        """Create or replace a schedule. With ``replace=False`` (a job's own trigger, written by
        every process at start) an unchanged schedule keeps its anchor. True when written."""
        values = {
            "client_id": client_id,
            "job_id": job_id,
            "dynamic_schedule_id": dynamic_schedule_id,
            "schedule_id": schedule_id,
            "type": spec.type,
            "options": spec.options(),
            "account_id": account_id,
            "anchor_at": now,
            "updated_at": now,
            "next_at": spec.next_after(now, now),
        }
        async with self._writer.transaction() as conn:
            if await insert_ignore(conn, job_schedules, {"key": key, "created_at": now, **values}):
                return True
            if not replace:
                current = (
                    await conn.execute(select(_S.type, _S.options).where(_S.key == key))
                ).first()
                if current is not None and (current.type, current.options) == (
                    spec.type,
                    spec.options(),
                ):
                    return False
            await conn.execute(update(job_schedules).where(_S.key == key).values(**values))
        return True

    async def delete(self, key: str) -> bool:
        async with self._writer.transaction() as conn:
            return bool((await conn.execute(delete(job_schedules).where(_S.key == key))).rowcount)

    @staticmethod
    def _mine(job_ids: Sequence[str], dynamic_ids: Sequence[str]) -> Any:
        return or_(_S.job_id.in_(job_ids), _S.dynamic_schedule_id.in_(dynamic_ids))

    async def next_due_at(
        self, job_ids: Sequence[str], dynamic_ids: Sequence[str]
    ) -> datetime | None:
        query = select(func.min(_S.next_at)).where(self._mine(job_ids, dynamic_ids))
        async with self._engine.connect() as conn:
            value = await conn.scalar(query)
        return value if isinstance(value, datetime) else None

    async def fire_due(
        self,
        now: datetime,
        job_ids: Sequence[str],
        dynamic_ids: Sequence[str],
        plan: Callable[[ScheduleRow], Firing],
        limit: int = 100,
    ) -> tuple[int, list[NewRun]]:
        """Claim up to ``limit`` schedules due at ``now`` and fire them in one transaction:
        ``next_at`` moved, one firing row per occurrence, the runs of the occurrences this call
        fired queued. Returns (rows claimed, runs queued); fewer rows than ``limit`` means none
        is left due that another scheduler is not firing already."""
        mine = self._mine(job_ids, dynamic_ids)
        # Most ticks find nothing: look first without taking SQLite's write lock.
        probe = select(_S.key).where(_S.next_at <= now, mine).limit(1)
        async with self._engine.connect() as conn:
            if (await conn.execute(probe)).first() is None:
                return 0, []
        pick = select(job_schedules).where(_S.next_at <= now, mine).order_by(_S.next_at)
        pick = pick.limit(limit)
        if self._engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        async with self._writer.transaction() as conn:
            rows = [_row(r) for r in (await conn.execute(pick)).mappings()]
            if not rows:
                return 0, []
            firings = {row.key: plan(row) for row in rows}
            moves = [
                {"b_key": row.key, "b_read": row.next_at, "b_next": firings[row.key].next_at}
                for row in rows
            ]
            await conn.execute(_MOVE, moves)
            # The rows are ours (locked, or the write lock), so every occurrence should be new;
            # its run id, made of the schedule and the occurrence, is what guarantees it.
            planned = [run for firing in firings.values() for run in firing.runs]
            inserted = set(await self._runs.insert_runs(planned, conn, ignore=True))
            runs = [run for run in planned if run.id in inserted]
        return len(rows), runs

    async def list(self, dynamic_schedule_id: str | None = None) -> list[ScheduleInfo]:
        query = select(job_schedules).order_by(_S.key)
        if dynamic_schedule_id is not None:
            query = query.where(_S.dynamic_schedule_id == dynamic_schedule_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            ScheduleInfo(
                key=r["key"],
                client_id=r["client_id"],
                job_id=r["job_id"],
                dynamic_schedule_id=r["dynamic_schedule_id"],
                schedule_id=r["schedule_id"],
                type=r["type"],
                options=dict(r["options"]),
                account_id=r["account_id"],
                next_at=r["next_at"],
            )
            for r in rows
        ]
