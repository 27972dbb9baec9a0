"""The seam between the runtime and whatever executes runs.

The runtime writes runs to the store, then tells the dispatcher. The embedded
:class:`LocalDispatcher` wakes this process's :class:`~authward.jobs.worker.Worker`, which claims
due runs from the store; when that worker has free slots, runs are even inserted already leased
to it (``reserve``), saving the claim's round trip between send_event and the run.

Another engine (procrastinate on PostgreSQL, say) implements the same methods: ``reserve``
returns None, ``notify`` defers one engine job per run id, ``wake_at`` schedules one for the time
a suspended run is due, and the engine's task claims the run with ``RunStore.claim`` and hands it
to ``Executor.execute``.
"""

from __future__ import annotations

__all__ = ["Dispatcher", "LocalDispatcher", "Reservation"]

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from authward.jobs.records import ClaimedRun
from authward.jobs.worker import Worker


@dataclass(frozen=True)
class Reservation:
    """Slots of a worker in this process for runs about to be inserted already leased to it."""

    owner: str
    start: Callable[[list[ClaimedRun]], None]
    cancel: Callable[[], None]


class Dispatcher(Protocol):
    def reserve(self, count: int) -> Reservation | None:
        """Take ``count`` runs about to be queued straight away (None: queue them as usual).
        The runtime inserts them leased to ``owner``, then calls ``start`` (or ``cancel``)."""

    def notify(self, run_ids: Sequence[str]) -> None:
        """Runs were queued (committed): get them started."""

    def wake_at(self, when: datetime) -> None:
        """A suspended run is due at ``when``."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LocalDispatcher:
    """Runs execute in this process; a run queued here starts without waiting for a poll."""

    def __init__(self, worker: Worker, clock: Callable[[], datetime]) -> None:
        self.worker = worker
        self._clock = clock
        self._timers: set[asyncio.TimerHandle] = set()

    def reserve(self, count: int) -> Reservation | None:
        if not self.worker.reserve(count):
            return None
        return Reservation(
            self.worker.owner, self.worker.run_now, lambda: self.worker.unreserve(count)
        )

    def notify(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            self.worker.wake()

    def wake_at(self, when: datetime) -> None:
        delay = max(0.0, (when - self._clock()).total_seconds())
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            self.worker.wake()

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        await self.worker.stop()
