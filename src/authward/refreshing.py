"""A value read from the store and kept in memory for at most ``refresh_seconds``.

Past half of that age, the first caller starts the next load in the background and is answered
from the value it has; only a value as old as the full interval is waited for. Under load a
store read waits behind the busy event loop (hundreds of milliseconds on SQLite), and a cache
that every caller waits on at expiry stalls every request for that long, once per interval
(docs/benchmarks.md, decision 004). The token verifier's view follows the same rule with
extras of its own (tokens/verifier.py).
"""

from __future__ import annotations

__all__ = ["RENEW_AT", "Refreshing", "finish_in_background"]

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger("authward.store")

#: Share of ``refresh_seconds`` after which a caller starts the next load in the background.
#: Under full load a SQLite reload took 0.3-0.6 s (each hand-off waits for the busy loop): at
#: 3/4 of the default 2 s it was often late, and requests queued behind it.
RENEW_AT = 0.5
#: How long closing lets a background load finish before cancelling it.
_CLOSE_WAIT = 5.0


async def finish_in_background(task: asyncio.Task[None] | None) -> None:
    """Let a background load finish (cancel it if it takes long): called before the store it
    reads from is closed."""
    if task is None or task.done():
        return
    done, _ = await asyncio.wait({task}, timeout=_CLOSE_WAIT)
    if not done:
        task.cancel()
        await asyncio.wait({task})


class Refreshing(Generic[T]):
    def __init__(
        self,
        load: Callable[[], Awaitable[T]],
        *,
        refresh_seconds: float,
        what: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._refresh = refresh_seconds
        self._what = what
        self.monotonic = monotonic
        self._value: T | None = None
        self._loaded_at = float("-inf")
        self._generation = 0
        self._lock = asyncio.Lock()
        self._renewal: asyncio.Task[None] | None = None

    def invalidate(self) -> None:
        """Load again on next use (after a change made through this process)."""
        self._loaded_at = float("-inf")
        self._generation += 1

    @property
    def reloading(self) -> asyncio.Task[None] | None:
        """The load started in the background, while it runs."""
        return self._renewal

    async def get(self) -> T:
        age = self.monotonic() - self._loaded_at
        if self._value is not None and age < self._refresh:
            if age >= self._refresh * RENEW_AT and self._renewal is None:
                # An empty context: the load belongs to no request.
                self._renewal = asyncio.get_running_loop().create_task(
                    self._renew(), context=contextvars.Context()
                )
            return self._value
        return await self._load_if_stale(self._refresh)

    async def close(self) -> None:
        await finish_in_background(self._renewal)

    async def _renew(self) -> None:
        try:
            await self._load_if_stale(self._refresh * RENEW_AT)
        except Exception:
            # Callers load it themselves once it is refresh_seconds old, and see the error then.
            log.warning("reloading %s ahead of time failed", self._what, exc_info=True)
        finally:
            self._renewal = None

    async def _load_if_stale(self, older_than: float) -> T:
        async with self._lock:
            # Another task may have loaded it while this one waited for the lock.
            if self._value is None or self.monotonic() - self._loaded_at >= older_than:
                generation = self._generation
                # The age counts from before the read, so the value is never older than said.
                started = self.monotonic()
                self._value = await self._load()
                # Invalidated while loading: newer than before, but not fresh.
                if generation == self._generation:
                    self._loaded_at = started
            return self._value
