"""Cross-process wake-ups on PostgreSQL (decision 018).

A transaction that queues runs (or gives one back) also runs ``pg_notify`` on one channel;
PostgreSQL delivers it at commit, so a woken worker always finds the rows. Every process with a
worker keeps one dedicated asyncpg connection ``LISTEN``ing on that channel and wakes its worker,
so a run queued by any process (a server with its worker off, another worker, the scheduler)
starts within a round trip instead of a poll interval. Polling stays as the fallback: a
notification lost while the listening connection is down costs at most one poll, and the worker
is also woken each time the connection is (re)established.
"""

from __future__ import annotations

__all__ = ["CHANNEL", "NOTIFY", "Listener"]

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL

from authward.jobs._tasks import cancel_and_wait

log = logging.getLogger("authward.jobs")

CHANNEL = "authward_jobs"
#: Run inside a transaction that made runs due; delivered to every listener at commit.
NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")
_RETRY_MAX_SECONDS = 5.0


class Listener:
    """Calls ``on_wake`` for every notification on :data:`CHANNEL`, and once each time the
    connection is (re)established (notifications sent while it was down are gone)."""

    def __init__(self, url: URL, on_wake: Callable[[], None], check_seconds: float) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_wake = on_wake
        self._check_seconds = check_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="authward jobs listener")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    def _notified(self, *_: Any) -> None:
        self._on_wake()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen()
                delay = 0.1
            except Exception as exc:  # whatever broke the connection, listen again
                log.warning("jobs listener: %s; reconnecting in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(_RETRY_MAX_SECONDS, delay * 2)

    async def _listen(self) -> None:
        import asyncpg  # type: ignore[import-untyped]  # the postgres extra; untyped

        conn: asyncpg.Connection = await asyncpg.connect(self._dsn)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _: lost.set())
            await conn.add_listener(CHANNEL, self._notified)
            self._on_wake()
            while not conn.is_closed():
                # A closed socket ends the wait at once; a silently dead network only shows
                # when the connection is used.
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races with the event, and stop() would then wait forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._check_seconds):
                        await lost.wait()
                if not conn.is_closed():
                    await conn.execute("SELECT 1", timeout=10)
        finally:
            try:
                await conn.close(timeout=2)
            except Exception:
                conn.terminate()
