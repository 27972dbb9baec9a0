"""Jobs, embedded: ``send_event`` -> run started (p50 / p99), and runs completed per second for
a job of three trivial tasks. One process: the sender and the embedded worker share the loop.

    .venv/bin/python bench/jobs_load.py                         # SQLite in a scratch directory
    .venv/bin/python bench/jobs_load.py --database-url postgresql://postgres@127.0.0.1/aw_bench

"Started" is the moment the run function is entered; latency is measured one event at a time on
an idle worker (woken directly by send_event, not by its poll). Throughput queues every run
first, then times until the last one is stored as succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from authward.config import load_app
from authward.jobs import Io, JobClient, JobsRuntime, RunContext, event_trigger
from authward.runtime import Authward
from authward.settings import load_settings
from authward.store.schema import job_runs

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "app.py"
entered: dict[str, float] = {}
arrived = asyncio.Event()

client = JobClient(id="bench")


@client.job(id="start", name="start", version="1", trigger=event_trigger(name="start"))
async def start(payload: Any, io: Io, ctx: RunContext) -> None:
    assert ctx.event.id is not None
    entered[ctx.event.id] = time.perf_counter()
    arrived.set()


@client.job(id="three", name="three", version="1", trigger=event_trigger(name="three"))
async def three(payload: Any, io: Io, ctx: RunContext) -> int:
    a = await io.run_task("a", lambda: 1)
    b = await io.run_task("b", lambda: 2)
    return int(await io.run_task("c", lambda: a + b))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def settled(aw: Authward, run_id: str) -> None:
    for _ in range(100_000):
        if await aw.jobs.store.status(run_id) == "succeeded":
            return
        await asyncio.sleep(0.001)
    raise RuntimeError(f"run {run_id} did not finish")


async def latency(aw: Authward, count: int, phase: str) -> list[float]:
    samples = []
    for i in range(count):
        event_id = f"{phase}-{i}"
        arrived.clear()
        sent_at = time.perf_counter()
        sent = await client.send_event({"name": "start", "id": event_id})
        await arrived.wait()
        samples.append((entered[event_id] - sent_at) * 1000)
        await settled(aw, sent.run_ids[0])  # the next sample starts on an idle worker
    return samples


async def throughput(aw: Authward, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        await client.send_event({"name": "three", "id": f"tp-{i}"})
    query = select(func.count()).where(
        job_runs.c.job_id == "three", job_runs.c.status == "succeeded"
    )
    while True:
        async with aw.engine.connect() as conn:
            done = int((await conn.execute(query)).scalar_one())
        if done >= count:
            return count / (time.perf_counter() - started)
        await asyncio.sleep(0.01)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp())
    url = args.database_url or f"sqlite+aiosqlite:///{scratch / 'authward.db'}"
    settings = load_settings(
        database_url=url, key_file=scratch / "authward.key", jobs_concurrency=args.concurrency
    )
    config, _ = load_app(EXAMPLE)
    aw = await Authward.open(config, settings, migrate=True)
    try:
        aw.jobs = JobsRuntime(aw.jobs.ports, [client])
        await aw.jobs.start()
        await latency(aw, 20, "warm-up")
        samples = await latency(aw, args.events, "latency")
        rate = await throughput(aw, args.runs)
    finally:
        await aw.close()
    backend = url.split(":", 1)[0]
    print(
        f"{backend}: send_event -> run started p50 {statistics.median(samples):.2f} ms, "
        f"p99 {pct(samples, 0.99):.2f} ms ({len(samples)} events); "
        f"three-task runs {rate:.0f}/s ({args.runs} runs, concurrency {args.concurrency})"
    )


if __name__ == "__main__":
    asyncio.run(main())
