"""Helpers for the job tests: a clock the test moves, binding clients, waiting for a run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from authward.jobs import JobClient, JobsRuntime, RunDetail
from authward.runtime import Authward

FINAL = ("succeeded", "failed", "cancelled", "timed_out")
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


async def bind(
    aw: Authward,
    *clients: JobClient,
    clock: FakeClock | None = None,
    worker: bool = True,
    scheduler: bool = False,
) -> JobsRuntime:
    """Replace the (unstarted) default runtime with one running these clients."""
    aw.jobs = JobsRuntime(aw.jobs.ports, clients, clock=clock)
    await aw.jobs.start(worker=worker, scheduler=scheduler)
    return aw.jobs


async def wait_until(aw: Authward, run_id: str, check: Callable[[RunDetail], bool]) -> RunDetail:
    """Poll the run until ``check`` holds. The cap only turns a hang into a failure; nothing
    here measures speed."""
    run = None
    for _ in range(3000):
        try:
            run = await aw.jobs.get_run(run_id)
        except DBAPIError as exc:  # a pooled connection cut by a fault test: the next is fresh
            if not exc.connection_invalidated:
                raise
            continue
        if run is not None and check(run):
            return run
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} never got there: {run}")


async def wait_for(aw: Authward, run_id: str, *statuses: str) -> RunDetail:
    """Poll until the run reaches one of ``statuses`` (a final one by default)."""
    wanted = statuses or FINAL
    return await wait_until(aw, run_id, lambda run: run.status in wanted)


async def create_counter(aw: Authward) -> None:
    async with aw.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (name VARCHAR(50) PRIMARY KEY, n INTEGER)"))


async def count_effect(aw: Authward, name: str) -> None:
    """A side effect a test can count: one row per name, incremented each time."""
    async with aw.engine.begin() as conn:
        updated = await conn.execute(
            text("UPDATE effects SET n = n + 1 WHERE name = :name"), {"name": name}
        )
        if not updated.rowcount:
            await conn.execute(
                text("INSERT INTO effects (name, n) VALUES (:name, 1)"), {"name": name}
            )


async def effects(aw: Authward) -> dict[str, int]:
    async with aw.engine.connect() as conn:
        rows = await conn.execute(text("SELECT name, n FROM effects"))
        return {r.name: r.n for r in rows}


async def table_count(aw: Authward, table: str) -> int:
    async with aw.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


def ids(values: Iterable[object]) -> list[str]:
    return [str(getattr(v, "id", v)) for v in values]
