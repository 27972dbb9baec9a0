"""A store value kept in memory: renewed in the background past half its interval, waited for
only at the full interval (the OAuth client directory uses it)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from authward.refreshing import Refreshing, RefreshingMap


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
        await asyncio.wait([renewal])  # it failed, and nobody was waiting for it
    assert "reloading the test value ahead of time failed" in caplog.text
    clock.now += 0.3  # still younger than the interval: served, and not tried again yet
    assert await cached.get() == "v1"
    assert (store.reads, cached.reloading) == (2, None)
    clock.now += 0.2
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


async def test_reload_waits_for_a_load_that_started_after_it_was_asked() -> None:
    store, clock = Store(), Clock()
    cached = _refreshing(store, clock)
    await cached.get()
    clock.now += 1.5
    store.gate = asyncio.Event()
    await cached.get()  # a background load, which reads "v1" and is held open
    store.read.clear()
    await store.read.wait()
    store.value = "v2"  # written after that load read
    reloaded = asyncio.ensure_future(cached.reload())
    await asyncio.sleep(0)
    store.gate.set()
    assert await reloaded == "v2"  # not the answer of the load already in flight
    assert store.reads == 3


async def test_a_caller_cancelled_while_waiting_cancels_no_load() -> None:
    store, clock = Store(), Clock()
    cached = _refreshing(store, clock)
    store.gate = asyncio.Event()
    first = asyncio.ensure_future(cached.get())
    second = asyncio.ensure_future(cached.get())
    await store.read.wait()
    first.cancel()
    store.gate.set()
    assert await second == "v1"
    assert store.reads == 1  # one load, shared, and not cancelled with the first caller


class Rows:
    """A store of values by key, counting reads per key; ``gate`` holds reads open."""

    def __init__(self) -> None:
        self.values = {"a": "a1", "b": "b1", "c": "c1"}
        self.reads: list[str] = []
        self.gate: asyncio.Event | None = None

    async def load(self, key: str) -> str:
        self.reads.append(key)
        value = self.values[key]  # KeyError: the read fails
        if self.gate is not None:
            await self.gate.wait()
        return value


def _map(rows: Rows, clock: Clock, max_entries: int = 10) -> RefreshingMap[str, str]:
    return RefreshingMap(
        rows.load, refresh_seconds=2.0, what="a row", max_entries=max_entries, monotonic=clock
    )


async def test_each_key_is_loaded_once_at_a_time_and_renewed_by_the_same_rule() -> None:
    rows, clock = Rows(), Clock()
    cached = _map(rows, clock)
    rows.gate = asyncio.Event()
    waiting = [asyncio.ensure_future(cached.get(k)) for k in ("a", "a", "b")]
    await asyncio.sleep(0)
    rows.gate.set()
    assert await asyncio.gather(*waiting) == ["a1", "a1", "b1"]
    assert sorted(rows.reads) == ["a", "b"]  # one read per key, shared by its callers
    rows.gate = None

    assert cached.fresh("a") == "a1"
    rows.values["a"] = "a2"
    clock.now += 1.5  # past half: answered at once, one read in the background
    assert cached.fresh("a") == "a1"
    assert await cached.get("a") == "a1"
    await cached.close()  # lets it finish
    assert rows.reads.count("a") == 2
    assert cached.fresh("a") == "a2"
    clock.now += 0.6  # b is 2.1 s old now: never served, waited for
    assert cached.fresh("b") is None
    assert await cached.get("b") == "b1"


async def test_a_failed_first_load_keeps_nothing_and_discard_forgets_a_value() -> None:
    rows, clock = Rows(), Clock()
    cached = _map(rows, clock)
    with pytest.raises(KeyError):
        await cached.get("x")
    assert "x" not in cached
    assert await cached.get("a") == "a1"
    rows.values["a"] = "a2"
    cached.discard("a")
    assert cached.fresh("a") is None
    assert await cached.get("a") == "a2"


async def test_the_map_is_bounded_and_what_is_renewed_stays() -> None:
    rows, clock = Rows(), Clock()
    cached = _map(rows, clock, max_entries=2)
    await cached.get("a")
    await cached.get("b")
    clock.now += 1.5
    cached.fresh("a")  # renewed in the background: last in the eviction order
    await cached.close()
    await cached.get("c")
    assert cached.keys() == ["a", "c"]


async def test_close_waits_for_the_loads_of_values_dropped_meanwhile() -> None:
    rows, clock = Rows(), Clock()
    cached = _map(rows, clock)
    rows.gate = asyncio.Event()
    loading = asyncio.ensure_future(cached.get("a"))
    await asyncio.sleep(0)
    cached.clear()
    asyncio.get_running_loop().call_later(0.05, rows.gate.set)
    await cached.close()
    assert loading.done()
    assert loading.result() == "a1"


async def test_looking_for_something_unknown_loads_at_most_once_per_given_age() -> None:
    store, clock = Store(), Clock()
    cached = _refreshing(store, clock)
    await cached.get()
    clock.now += 0.5
    store.gate = asyncio.Event()
    asking = [asyncio.ensure_future(cached.loaded_within(0.3)) for _ in range(3)]
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(*asking)
    assert store.reads == 2  # one load for the three callers
    clock.now += 0.2
    assert await cached.loaded_within(0.3) == "v1"
    assert store.reads == 2  # loaded 0.2 s ago: recent enough
