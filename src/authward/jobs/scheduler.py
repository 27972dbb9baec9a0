"""Fires interval and cron occurrences: a job's own schedule and every registration on a dynamic
schedule. ``tick(now)`` does one pass (tests drive it with their own clock); ``start`` runs it
whenever the earliest schedule is due, and at least every ``LOOK_SECONDS`` (or the queue's poll
interval, if longer) for schedules registered by other processes. Each occurrence fires once in
all (see schedule_store.py); a schedule that was not served for a while fires once for its
latest missed occurrence."""

from __future__ import annotations

__all__ = ["Scheduler"]

import asyncio
import contextlib
import functools
import hashlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from authward.jobs._tasks import cancel_and_wait
from authward.jobs.schedule_store import Firing, ScheduleRow

if TYPE_CHECKING:
    from authward.jobs.runtime import JobsRuntime

log = logging.getLogger("authward.jobs")
_TICK = timedelta(microseconds=1)
#: Due schedules fired per transaction: a burst takes few round trips, and a transaction stays
#: short enough that rows registered or changed meanwhile do not wait long for its locks.
_BATCH = 100
#: How often the scheduler looks for schedules another process registered or moved (its own are
#: woken at once). Not the queue's 0.1 s poll: the look is two queries, and at that rate it
#: was nearly half of what an idle worker spent (docs/benchmarks.md). A second is what the
#: engine before DBOS used.
LOOK_SECONDS = 1.0


def occurrence_run_id(schedule_key: str, occurrence: datetime, job_id: str) -> str:
    """The run of one job for one occurrence of a schedule: the same id in every process, so
    the occurrence is stored and executed once however many schedulers fire it."""
    digest = hashlib.sha256(f"{schedule_key}\n{occurrence.isoformat()}\n{job_id}".encode())
    return f"run_s{digest.hexdigest()[:32]}"


class Scheduler:
    def __init__(self, runtime: JobsRuntime) -> None:
        self._runtime = runtime
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Fire every due occurrence; returns the ids of the runs this call queued. Due rows
        are fired in batches, one transaction each (see schedule_store.py): a burst of
        occurrences costs a few transactions, and concurrent schedulers split it."""
        rt = self._runtime
        queued: list[str] = []
        while True:
            # Each batch is stamped with its own time, so a firing's fired_at is when it fired.
            at = now or rt.clock()
            claimed, runs = await rt.schedules.fire_due(
                at,
                rt.scheduled_job_ids(),
                rt.used_dynamic_schedule_ids(),
                functools.partial(self._plan, now=at),
                limit=_BATCH,
            )
            if runs:
                await rt.hand_over([r.id for r in runs])  # start them before the next batch
                queued.extend(r.id for r in runs)
            if claimed < _BATCH:
                return queued

    def _plan(self, row: ScheduleRow, now: datetime) -> Firing:
        rt = self._runtime
        occurrence = row.spec.latest_at_or_before(now, row.anchor_at) or row.next_at
        previous = row.spec.latest_at_or_before(occurrence - _TICK, row.anchor_at)
        payload = {
            "ts": occurrence.isoformat(),
            "last_timestamp": previous.isoformat() if previous else None,
            "schedule_id": row.schedule_id,
        }
        runs = [
            rt.new_run(
                job,
                payload,
                account_id=row.account_id,
                identity=(None, None),
                event_id=None,
                event_name="schedule",
                event_timestamp=occurrence,
                now=now,
                run_id=occurrence_run_id(row.key, occurrence, job.id),
            )
            for job in rt.jobs_for_schedule(row.job_id, row.dynamic_schedule_id)
        ]
        return Firing(occurrence, row.spec.next_after(now, row.anchor_at), runs)

    @property
    def died(self) -> bool:
        """Started, and its loop ended without ``stop()``."""
        return self._task is not None and self._task.done()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="authward scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _loop(self) -> None:
        rt = self._runtime
        while True:
            self._wake.clear()
            delay = max(rt.poll_seconds, LOOK_SECONDS)
            try:
                await self.tick()
                nxt = await rt.schedules.next_due_at(
                    rt.scheduled_job_ids(), rt.used_dynamic_schedule_ids()
                )
                if nxt is not None:
                    delay = min(delay, max(0.0, (nxt - rt.clock()).total_seconds()))
            except Exception as exc:
                log.warning("scheduler: %s", exc)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with a wake-up, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
