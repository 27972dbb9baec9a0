"""This engine's answers to ``/readyz`` and the queue-depth gauge (``JobEngineProbe``,
observability/readiness.py, decision 053)."""

from __future__ import annotations

__all__ = ["JobProbe"]

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from authward.jobs.runtime import JobsRuntime


class JobProbe:
    def __init__(self, runtime: JobsRuntime) -> None:
        self._runtime = runtime

    async def ready(self) -> str | None:
        """A worker's liveness loop or the scheduler that ended by itself (not by ``stop()``)
        is not ready: nobody would notice dead workers, or fire schedules."""
        rt = self._runtime
        parts = (("worker", rt.liveness), ("scheduler", rt.scheduler))
        stopped = [name for name, part in parts if part.died]
        return f"the job {' and '.join(stopped)} stopped" if stopped else None

    async def queue_depth(self) -> int | None:
        return await self._runtime.store.queued_count()
