"""A store value kept in memory: renewed in the background past half its interval, waited for
only at the full interval (the OAuth client directory uses it)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from authward.refreshing import Refreshing


class Store:
    """What the store holds now, and how often it was read; ``gate`` holds a read open."""

    def __init__(self) -> None:
        self.value = "v1"
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.fail = False
        #: Set once a read has taken its value.
        self.read = asyncio.Event()

    async def load(self) -> str:
        self.reads += 1
        value = self.value  # what the read saw, however long it then takes to return
        self.read.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("store is down")
        return value


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _refreshing(store: Store, clock: Clock) -> Refreshing[str]:
    return Refreshing(store.load, refresh_seconds=2.0, what="the test value", monotonic=clock)


async def test_a_young_value_is_served_and_renewed_in_the_background_past_half() -> None:
    store, clock = Store(), Clock()
    cached = _refreshing(store, clock)
    assert await cached.get() == "v1"
    store.value = "v2"
    clock.now += 0.9  # before half the interval: served as is, nothing read
    assert await cached.get() == "v1"
    assert (store.reads, cached.reloading) == (1, None)

    clock.now += 0.2  # past half: answered at once, one load starts in the background
    store.gate = asyncio.Event()
    assert await cached.get() == "v1"
    renewal = cached.reloading
    assert renewal is not None
    assert await cached.get() == "v1"
    assert cached.reloading is renewal  # one at a time
    store.gate.set()
    await renewal
    assert (store.reads, cached.reloading) == (2, None)
    assert await cached.get() == "v2"  # without the clock moving


async def test_a_value_as_old_as_the_interval_is_never_served() -> None:
    store, clock = Store(), Clock()
    cached = _refreshing(store, clock)
    await cached.get()
    store.value = "v2"
    clock.now += 2.0
    assert await cached.get() == "v2"
    assert store.reads == 2
    assert cached.reloading is None


async def test_invalidate_loads_on_next_use_even_while_a_load_was_in_flight() -> None:
    store, clock = Store(), Clock()
    cached = _refreshing(store, clock)
    await cached.get()
    clock.now += 1.5
    store.gate = asyncio.Event()
    await cached.get()  # starts a background load, held open by the gate
    renewal = cached.reloading
    assert renewal is not None
    store.read.clear()
    await store.read.wait()  # the load has read the old value
    cached.invalidate()  # a change made meanwhile, which that load may have missed
    store.value = "v2"
    store.gate.set()
    await renewal
    store.gate = None
    assert await cached.get() == "v2"  # the load in flight did not count as fresh
    assert store.reads == 3


async def test_a_failed_background_load_is_logged_and_the_error_seen_at_the_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = Store(), Clock()
    cached = _refreshing(store, clock)
    await cached.get()
    store.fail = True
    clock.now += 1.5
    with caplog.at_level(logging.WARNING, logger="authward.store"):
        assert await cached.get() == "v1"
        renewal = cached.reloading
        assert renewal is not None
        await renewal
    assert "reloading the test value ahead of time failed" in caplog.text
    clock.now += 0.5
    with pytest.raises(RuntimeError, match="store is down"):
        await cached.get()


async def test_close_lets_a_background_load_finish() -> None:
    store, clock = Store(), Clock()
    cached = _refreshing(store, clock)
    await cached.get()
    clock.now += 1.5
    store.gate = asyncio.Event()
    store.value = "v2"
    await cached.get()
    renewal = cached.reloading
    assert renewal is not None
    asyncio.get_running_loop().call_later(0.05, store.gate.set)
    await cached.close()
    assert renewal.done()
    assert not renewal.cancelled()
    assert await cached.get() == "v2"
