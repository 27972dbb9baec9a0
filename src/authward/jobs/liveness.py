"""Keeping workers honest about being alive, and recovering the runs of those that are not.

DBOS recovers a worker's pending runs when a worker with the same executor id starts again;
without its paid control plane nothing notices a worker that never comes back. Each worker
therefore keeps a liveness record (``store/job_workers.py``) with a heartbeat every
``recovery_seconds / 6``. A worker whose heartbeat is older than ``recovery_seconds / 2`` is dead:
the first survivor whose sweep sees it claims it (one conditional update: exactly one wins) and
puts its pending runs back on the queue through DBOS's public ``resume_workflow`` call, completed
steps kept. So a killed worker's runs start again within ``recovery_seconds``.

The sweep also hands over runs stored as queued that the engine never heard of (their process
died between storing them and handing them over, or an older release stored them)."""

from __future__ import annotations

__all__ = ["Liveness"]

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from authward.jobs._tasks import cancel_and_wait
from authward.jobs.engine import Engine
from authward.jobs.errors import JobsError, WorkerIdInUse
from authward.jobs.store import RunStore
from authward.store.job_workers import WorkerRecords

log = logging.getLogger("authward.jobs")


def _now() -> datetime:
    return datetime.now(UTC)


class Liveness:
    def __init__(
        self,
        *,
        records: WorkerRecords,
        engine: Engine,
        runs: RunStore,
        worker_id: str,
        recovery_seconds: float,
        rejoin: Callable[[], Awaitable[None]],
    ) -> None:
        self._records = records
        self._engine = engine
        self._runs = runs
        self.worker_id = worker_id
        self._instance = uuid.uuid4().hex
        self._dead_after = timedelta(seconds=recovery_seconds / 2)
        self._every = recovery_seconds / 6
        self._rejoin = rejoin
        self._task: asyncio.Task[None] | None = None

    async def register(self) -> None:
        """Take this worker id's record; wait while another worker recovers its runs (so a
        restarted worker never executes a run a survivor is handing back to the queue).

        A record that still looks live may be this id's previous start, killed a moment ago (a
        crash and a restart by systemd or Kubernetes): it is watched until it beats (a live
        worker uses the id: refuse) or is old enough to be dead (take it, and DBOS recovers
        the runs it held at launch)."""
        seen: datetime | None = None
        while True:
            now = _now()
            state = await self._records.register(
                self.worker_id, self._instance, now, now - self._dead_after
            )
            if state == "registered":
                return
            if state == "live":
                beat = await self._records.heartbeat(self.worker_id)
                if beat is not None and seen is not None and beat != seen:
                    raise WorkerIdInUse(
                        f"worker id {self.worker_id!r} is in use by a running worker: give each "
                        "worker its own id (AUTHWARD_JOBS_WORKER_ID or --worker-id)"
                    )
                seen = beat or seen
                await asyncio.sleep(min(1.0, self._every / 2))
                continue
            await asyncio.sleep(min(1.0, self._every))

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="authward worker liveness")

    @property
    def died(self) -> bool:
        """Started, and its loop ended without ``stop()``."""
        return self._task is not None and self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def release(self) -> None:
        """This worker stops cleanly: its pending runs go back to the queue now, for any
        worker, and its record goes."""
        await self._runs.requeued(await self._engine.recover(self.worker_id))
        await self._records.forget(self.worker_id, instance=self._instance)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.tick()
            except JobsError as exc:
                # Rejoining failed (another start took this id meanwhile): keep trying, so the
                # worker does not go on quietly executing nothing.
                log.error("worker %s: %s", self.worker_id, exc)
            except Exception as exc:
                log.warning("worker %s: liveness check failed: %s", self.worker_id, exc)

    async def tick(self) -> None:
        now = _now()
        if not await self._records.beat(self.worker_id, self._instance, now):
            log.error(
                "worker %s was taken for dead (no heartbeat for %s) and its runs were recovered "
                "elsewhere; it stops executing them and joins again",
                self.worker_id,
                self._dead_after,
            )
            await self._rejoin()
            return
        for stale in await self._records.stale(now - self._dead_after, exclude=self.worker_id):
            if await self._records.claim(stale, self.worker_id, _now()):
                recovered = await self._engine.recover(stale.id)
                await self._runs.requeued(recovered)
                await self._records.forget(stale.id, by=self.worker_id)
                log.warning(
                    "worker %s: worker %s stopped answering; %d of its runs are queued again",
                    self.worker_id,
                    stale.id,
                    len(recovered),
                )
        await self._hand_over_stalled(now)

    async def _hand_over_stalled(self, now: datetime) -> None:
        stalled = await self._runs.stalled(now - self._dead_after)
        if not stalled:
            return
        unknown = set(stalled) - await self._engine.known(stalled)
        if unknown:
            await self._engine.enqueue(sorted(unknown))
