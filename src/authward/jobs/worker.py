"""The embedded worker: claims due runs from the store and executes them, up to ``concurrency``
at once. Woken at once by runs queued in this process; polls for runs queued elsewhere."""

from __future__ import annotations

__all__ = ["Worker", "worker_id"]

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

from authward.jobs._tasks import cancel_and_wait
from authward.jobs.executor import Executor
from authward.jobs.records import ClaimedRun
from authward.jobs.store import RunStore

log = logging.getLogger("authward.jobs")


def worker_id() -> str:
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        *,
        store: RunStore,
        executor: Executor,
        job_ids: Callable[[], list[str]],
        clock: Callable[[], datetime],
        concurrency: int,
        lease_seconds: float,
        poll_seconds: float,
        owner: str | None = None,
    ) -> None:
        self.owner = owner or worker_id()
        self._store = store
        self._executor = executor
        self._job_ids = job_ids
        self._clock = clock
        self._concurrency = concurrency
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._active: set[asyncio.Task[None]] = set()
        #: Slots promised to runs being inserted already leased to this worker (reserve()).
        self._reserved = 0
        self._loop_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def reserve(self, count: int) -> bool:
        """Promise ``count`` slots to runs about to be inserted already leased to this worker,
        so they start without a claim round-trip; False when stopped or too busy."""
        if self._loop_task is None or self._busy() + count > self._concurrency:
            return False
        self._reserved += count
        return True

    def unreserve(self, count: int) -> None:
        self._reserved -= count

    def run_now(self, runs: list[ClaimedRun]) -> None:
        """Execute runs leased to this worker at insert time (their slots were reserved)."""
        self._reserved -= len(runs)
        for run in runs:
            self._spawn(run)

    def _busy(self) -> int:
        return len(self._active) + self._reserved

    def _spawn(self, run: ClaimedRun) -> None:
        task = asyncio.create_task(self._execute(run), name=f"execute {run.id}")
        self._active.add(task)

    @property
    def died(self) -> bool:
        """Started, and its loop ended without ``stop()``."""
        return self._loop_task is not None and self._loop_task.done()

    async def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name=f"worker {self.owner}")

    async def stop(self) -> None:
        """Stop claiming; interrupt the runs in flight and give them back to the queue."""
        if self._loop_task is not None:
            await cancel_and_wait(self._loop_task)
            self._loop_task = None
        for task in list(self._active):
            task.cancel()
        await asyncio.gather(*self._active, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                claimed = await self.claim_once()
            except Exception as exc:
                log.warning("worker %s: claiming failed: %s", self.owner, exc)
                claimed = 0
            if claimed and self._busy() < self._concurrency:
                continue  # there may be more due runs
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with a wake-up, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._wake.wait()

    async def claim_once(self) -> int:
        free = self._concurrency - self._busy()
        runs = await self._store.claim_due(
            self.owner, self._job_ids(), free, self._clock(), self._lease_seconds
        )
        for run in runs:
            self._spawn(run)
        return len(runs)

    async def _execute(self, run: ClaimedRun) -> None:
        try:
            await self._executor.execute(run)
        except Exception:
            log.exception("run %s: the worker could not record its outcome", run.id)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._active.discard(task)
            self._wake.set()  # a slot is free
