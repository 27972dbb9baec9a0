"""Values read from the store and kept in memory: the one renewal rule of every view and cache.

A value is never used once it is ``refresh_seconds`` old. Past half of that age, the first caller
starts the next load in the background and is answered from the value it has; only a value as
old as the full interval is waited for. Under load a store read waits behind the busy event loop
(hundreds of milliseconds on SQLite), and a cache that every caller waits on at expiry stalls
every request for that long, once per interval (docs/benchmarks.md, decisions 004 and 044).

- :class:`Refreshing` is one value: the access-token and session-token views (the verifiers in
  ``tokens/verifier.py`` extend it), the OAuth clients, the locked clients, the published keys.
- :class:`RefreshingMap` is one :class:`Refreshing` per key, loaded on first use and bounded:
  API keys, M2M tokens and machines by digest, the vault's connections.

Both: one load at a time per value, which every caller that has to wait for it shares (a caller
cancelled meanwhile cancels nothing), run in an empty context (it belongs to no request); a failed
background load is logged and not tried again in the background, so a store that is down is asked
once per interval, by the callers that then wait; :meth:`Refreshing.invalidate` during a load
leaves the loaded value in place but not fresh; ``close`` lets the loads in flight finish
(cancelled after 5 s) before the store they read is closed.
"""

from __future__ import annotations

__all__ = ["RENEW_AT", "Refreshing", "RefreshingMap"]

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

log = logging.getLogger("authward.store")

#: Share of ``refresh_seconds`` after which a caller starts the next load in the background.
#: Under full load a SQLite reload took 0.3-0.6 s (each hand-off waits for the busy loop): at
#: 3/4 of the default 2 s it was often late, and requests queued behind it.
RENEW_AT = 0.5
#: How long closing lets a load in flight finish before cancelling it.
_CLOSE_WAIT = 5.0


def _retrieve(task: asyncio.Task[Any]) -> None:
    # A load whose callers were all cancelled, or that ran in the background (logged then),
    # leaves no "exception was never retrieved" behind.
    if not task.cancelled():
        task.exception()


async def _finish(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    pending = {t for t in tasks if t is not None and not t.done()}
    if not pending:
        return
    _, late = await asyncio.wait(pending, timeout=_CLOSE_WAIT)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)


class Refreshing(Generic[T]):
    """One value read by ``load``, renewed by the rule above.

    The hot path is :meth:`fresh` (synchronous: a comparison while the value is young); a caller
    that may wait awaits :meth:`get`. ``monotonic`` is the clock ages are measured with."""

    __slots__ = (
        "_generation",
        "_load",
        "_loading",
        "_started",
        "_value_from",
        "_what",
        "loaded_at",
        "loads",
        "monotonic",
        "refresh_seconds",
        "renew_at",
        "value",
    )

    def __init__(
        self,
        load: Callable[[], Awaitable[T]],
        *,
        refresh_seconds: float,
        what: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.refresh_seconds = refresh_seconds
        self._what = what
        self.monotonic = monotonic
        #: The value loaded last; ``None`` before the first load.
        self.value: T | None = None
        #: When (``monotonic``) the load of ``value`` started: its age counts from before its reads.
        self.loaded_at = float("-inf")
        #: When a caller should start the next load in the background: one comparison on the hot
        #: path while the value is young.
        self.renew_at = float("-inf")
        #: How many loads succeeded (background or not).
        self.loads = 0
        #: Bumped by :meth:`invalidate`, so a load already in flight does not count as fresh.
        self._generation = 0
        self._loading: asyncio.Task[T] | None = None
        #: Loads numbered as they start, and the number of the one ``value`` comes from:
        #: :meth:`reload` waits for a value from a load started after it was called.
        self._started = 0
        self._value_from = 0

    def invalidate(self) -> None:
        """Load again on next use (after a change made through this process)."""
        self.loaded_at = self.renew_at = float("-inf")
        self._generation += 1

    @property
    def reloading(self) -> asyncio.Task[T] | None:
        """The load in flight, if any."""
        return self._loading

    def fresh(self) -> T | None:
        """The value when it may be used now (younger than ``refresh_seconds``), else ``None``.
        Past half of that age, starts the next load in the background."""
        value = self.value
        if value is not None and (self.monotonic() < self.renew_at or self.renew()):
            return value
        return None

    def renew(self) -> bool:
        """The value is past its renewal point: whether it may still be used (it is younger than
        ``refresh_seconds``), having started the background load if none runs."""
        if self.monotonic() - self.loaded_at >= self.refresh_seconds:
            return False
        if self._loading is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                # A coroutine driven by hand (the benchmarks) has no loop to load on; the value
                # is still renewed, by the first caller past the full interval.
                return True
            self._start(background=True)
        return True

    async def get(self, usable: Callable[[T], bool] | None = None) -> T:
        """The value, waiting for a load when it is ``refresh_seconds`` old (or when
        ``usable``, if given, refuses it: a vault token about to expire)."""
        value = self.fresh()
        if value is not None and (usable is None or usable(value)):
            return value

        def enough() -> bool:
            held = self.value
            young = self.monotonic() - self.loaded_at < self.refresh_seconds
            return held is not None and young and (usable is None or usable(held))

        return await self._wait(enough)

    async def loaded_within(self, seconds: float) -> T:
        """A value whose load started at most ``seconds`` ago: the one held, the one in flight,
        or a new load (a key or a client this view does not know: looked for at most once per
        ``seconds``, however many callers ask)."""
        return await self._wait(lambda: self.monotonic() - self.loaded_at <= seconds)

    async def reload(self) -> T:
        """A value loaded after this call, whatever the age of the one held."""
        after = self._started
        return await self._wait(lambda: self._value_from > after)

    async def close(self) -> None:
        await _finish([self._loading])

    async def _wait(self, enough: Callable[[], bool]) -> T:
        if self.value is not None and enough():
            return self.value
        joined = self._loading
        if joined is not None:
            # A load that fails here is tried again below, by this caller, which sees its error.
            with contextlib.suppress(Exception):
                await asyncio.shield(joined)
            if self.value is not None and enough():
                return self.value
        task = self._loading or self._start(background=False)
        return await asyncio.shield(task)

    def _start(self, *, background: bool) -> asyncio.Task[T]:
        # An empty context: the load belongs to no request (its principal, its job run).
        self._started += 1
        task = asyncio.get_running_loop().create_task(
            self._run(background, self._started), context=contextvars.Context()
        )
        task.add_done_callback(_retrieve)
        self._loading = task
        return task

    async def _run(self, background: bool, number: int) -> T:
        generation = self._generation
        started = self.monotonic()
        try:
            value = await self._load()
        except Exception:
            if background:
                log.warning(
                    "reloading %s ahead of time failed; callers load it themselves once it is "
                    "%s s old",
                    self._what,
                    self.refresh_seconds,
                    exc_info=True,
                )
                # Not again in the background: past the full interval, callers load it.
                self.renew_at = self.loaded_at + self.refresh_seconds
            raise
        finally:
            self._loading = None
        self.value, self._value_from = value, number
        self.loads += 1
        # Invalidated while loading (a change this load may have read before): newer than the
        # value it replaces, but not fresh.
        if generation == self._generation:
            self.loaded_at = started
            self.renew_at = started + self.refresh_seconds * RENEW_AT
        return value


class RefreshingMap(Generic[K, T]):
    """A :class:`Refreshing` per key, made on first use. At most ``max_entries``: the one renewed
    longest ago goes first (an entry in use is renewed every interval)."""

    def __init__(
        self,
        load: Callable[[K], Awaitable[T]],
        *,
        refresh_seconds: float,
        what: str,
        max_entries: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._refresh = refresh_seconds
        self._what = what
        self._max = max_entries
        self.monotonic = monotonic
        self._entries: dict[K, Refreshing[T]] = {}
        #: Loads of entries dropped while loading: closing still waits for them.
        self._dropped: set[asyncio.Task[T]] = set()

    def __contains__(self, key: K) -> bool:
        return key in self._entries

    @property
    def entries(self) -> Mapping[K, Refreshing[T]]:
        """Each key's :class:`Refreshing`, for a hot path that inlines :meth:`fresh`."""
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[K]:
        return list(self._entries)

    def fresh(self, key: K) -> T | None:
        """:meth:`Refreshing.fresh` of the key's value; ``None`` when it has none."""
        entry = self._entries.get(key)
        return entry.fresh() if entry is not None else None

    def held(self, key: K) -> T | None:
        """The key's value whatever its age (a load compares it with what it read)."""
        entry = self._entries.get(key)
        return entry.value if entry is not None else None

    async def get(self, key: K, usable: Callable[[T], bool] | None = None) -> T:
        """:meth:`Refreshing.get` of the key's value (its first load, or a load that failed,
        keeps nothing)."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._add(key)
        try:
            return await entry.get(usable)
        except BaseException:
            if entry.value is None and self._entries.get(key) is entry:
                del self._entries[key]
            raise

    def discard(self, key: K) -> None:
        """Forget the key's value: its next use loads it."""
        self._drop(self._entries.pop(key, None))

    def discard_where(self, held: Callable[[T], bool]) -> None:
        """Forget every value ``held`` says so of."""
        for key, entry in list(self._entries.items()):
            if entry.value is not None and held(entry.value):
                self.discard(key)

    def clear(self) -> None:
        for entry in self._entries.values():
            self._drop(entry)
        self._entries.clear()

    async def close(self) -> None:
        await _finish([*(e.reloading for e in self._entries.values()), *self._dropped])

    def _add(self, key: K) -> Refreshing[T]:
        while len(self._entries) >= self._max:
            self.discard(next(iter(self._entries)))
        load = self._load

        async def load_key() -> T:
            value = await load(key)
            if self._entries.get(key) is entry:
                # Renewed: last in the eviction order.
                del self._entries[key]
                self._entries[key] = entry
            return value

        entry = Refreshing(
            load_key, refresh_seconds=self._refresh, what=self._what, monotonic=self.monotonic
        )
        self._entries[key] = entry
        return entry

    def _drop(self, entry: Refreshing[T] | None) -> None:
        task = entry.reloading if entry is not None else None
        if task is not None:
            self._dropped.add(task)
            task.add_done_callback(self._dropped.discard)
