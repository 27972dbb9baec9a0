"""When things were last used (API keys, declared OAuth clients, machine users), kept off the
hot path: a use is recorded in memory, and the uses are written in one forward-only batch at most
every ``interval`` seconds and on close. A crash loses at most one interval of uses."""

from __future__ import annotations

__all__ = ["UseRecorder"]

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from datetime import UTC, datetime
from typing import Generic, TypeVar

from authward.errors import StoreError

K = TypeVar("K", bound=Hashable)
log = logging.getLogger("authward")


class UseRecorder(Generic[K]):
    """``write`` stores a batch of latest uses; the store keeps each one only if it is newer
    than what it has (forward-only), so batches may land in any order."""

    def __init__(
        self,
        write: Callable[[Mapping[K, datetime]], Awaitable[None]],
        *,
        interval: float,
        what: str,
        clock: Callable[[], float] = time.time,
        first_after_interval: bool = False,
    ) -> None:
        """``first_after_interval``: the first batch also waits an interval from now (not
        written at the first use after start)."""
        self._write = write
        self._interval = interval
        self._what = what
        self._clock = clock
        #: key -> latest use (POSIX time) not yet written.
        self._pending: dict[K, float] = {}
        self._flushed_at = clock() if first_after_interval else float("-inf")
        self._task: asyncio.Task[None] | None = None

    def record(self, key: K, at: float | None = None) -> None:
        """``key`` was used (now, or at POSIX time ``at``); no I/O here."""
        self._pending[key] = self._clock() if at is None else at

    def due(self) -> bool:
        """Uses are waiting and the last batch is at least one interval old."""
        return bool(self._pending) and self._clock() - self._flushed_at >= self._interval

    def flush_in_background(self) -> None:
        """Start a batch when one is due and none is being written."""
        if self.due() and (self._task is None or self._task.done()):
            self._flushed_at = self._clock()
            self._task = asyncio.get_running_loop().create_task(self.flush_quietly())

    async def flush(self) -> int:
        """Write the recorded uses in one batch; returns how many. On an error they are kept
        for the next batch (newer uses recorded meanwhile win) and the error is raised."""
        pending, self._pending = self._pending, {}
        self._flushed_at = self._clock()
        if not pending:
            return 0
        try:
            await self._write({key: datetime.fromtimestamp(at, UTC) for key, at in pending.items()})
        except BaseException:
            for key, at in pending.items():
                if self._pending.get(key, float("-inf")) < at:
                    self._pending[key] = at
            raise
        return len(pending)

    async def flush_quietly(self) -> None:
        # What was used (a token issued, a key verified) must not fail because bookkeeping
        # could not be written.
        try:
            await self.flush()
        except StoreError as exc:
            log.warning("could not record %s use (will retry): %s", self._what, exc)

    async def close(self) -> None:
        """Wait for a batch in flight, then write what is left."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
