"""Jobs, distributed on PostgreSQL: ``send_event`` -> run started (p50 / p99) and three-task
runs per second with N `authward worker` processes, the sender running no worker (what
`authward serve` does with AUTHWARD_JOBS_WORKER=0). Runs start through LISTEN/NOTIFY; the
workers poll only once a minute here, so a missed wake-up would show as a 60 s sample.

    .venv/bin/python bench/jobs_distributed.py [--workers 2] [--events 300] [--runs 1000]

"Started" is the wall-clock time the run function was entered in the worker (its output),
minus the time just before ``send_event`` in the sender; one event at a time, on idle workers.
Throughput queues every run first, then times until the last one is stored as succeeded.
A scratch database is created on the server of ``--admin-url`` and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
from sqlalchemy import func, select

from authward.config import load_app
from authward.jobs import find_job_clients
from authward.runtime import Authward
from authward.settings import load_settings
from authward.store.schema import job_runs, job_schedule_firings

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "app.py"
JOBS_APP = """
import time

from app import config  # noqa: F401

from authward.jobs import JobClient, event_trigger

client = JobClient(id="bench")


@client.job(id="start", name="start", version="1", trigger=event_trigger(name="start"))
async def start(payload, io, ctx):
    return time.time()


reports = client.define_dynamic_schedule(id="reports")


@client.job(id="report", name="report", version="1", trigger=reports)
async def report(payload, io, ctx):
    return None


@client.job(id="three", name="three", version="1", trigger=event_trigger(name="three"))
async def three(payload, io, ctx):
    a = await io.run_task("a", lambda: 1)
    b = await io.run_task("b", lambda: 2)
    return await io.run_task("c", lambda: a + b)
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def finished(aw: Authward, run_id: str) -> object:
    for _ in range(1_000_000):
        if await aw.jobs.store.status(run_id) == "succeeded":  # one small query
            run = await aw.jobs.get_run(run_id)
            assert run is not None
            return run.output
        await asyncio.sleep(0.002)
    raise RuntimeError(f"run {run_id} did not finish")


async def latency(aw: Authward, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        sent_at = time.time()
        sent = await aw.jobs.send_event({"name": "start"})
        entered = await finished(aw, sent.run_ids[0])
        assert isinstance(entered, float)
        samples.append((entered - sent_at) * 1000)
    return samples


async def throughput(aw: Authward, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await aw.jobs.send_event({"name": "three"})
    query = select(func.count()).where(
        job_runs.c.job_id == "three", job_runs.c.status == "succeeded"
    )
    while True:
        async with aw.engine.connect() as conn:
            done = int((await conn.execute(query)).scalar_one())
        if done >= count:
            return count / (time.perf_counter() - started)
        await asyncio.sleep(0.01)


async def lateness(aw: Authward) -> list[float]:
    """Milliseconds between each occurrence and the moment a scheduler fired it."""
    table = job_schedule_firings.c
    async with aw.engine.connect() as conn:
        rows = (await conn.execute(select(table.occurrence, table.fired_at))).all()
    return [(r.fired_at - r.occurrence).total_seconds() * 1000 for r in rows]


async def bench(args: argparse.Namespace, url: str, scratch: Path) -> None:
    shutil.copy(EXAMPLE, scratch / "app.py")
    (scratch / "bench_jobs.py").write_text(JOBS_APP)
    config, module = load_app(scratch / "bench_jobs.py")
    settings = load_settings(database_url=url, key_file=scratch / "authward.key")
    aw = await Authward.open(config, settings, migrate=True)
    aw.jobs.bind(find_job_clients(module))  # bound, never started: this process only sends
    # Registered before the workers start, so their schedulers see them from the first tick.
    # Each interval counts from its registration, spreading the occurrences over the minute.
    registered_at = time.time()
    for n in range(args.schedules):
        await module.reports.register(
            f"s{n}", {"type": "interval", "options": {"seconds": 60}, "account_id": f"user_{n}"}
        )
    load_until = registered_at + 60 * args.schedule_minutes + 1
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")},
        "AUTHWARD_DATABASE_URL": url,
        "AUTHWARD_KEY_FILE": str(scratch / "authward.key"),
        "AUTHWARD_JOBS_POLL_SECONDS": "60",
        "AUTHWARD_JOBS_CONCURRENCY": str(args.concurrency),
    }
    workers = [
        subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
            [sys.executable, "-m", "authward", "worker", "--app", "bench_jobs.py"],
            cwd=scratch,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.workers)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            worker.stdout.readline()  # "authward: worker ... running"
        await latency(aw, 20)  # warm-up
        samples = await latency(aw, args.events)
        rate = await throughput(aw, args.runs)
        while time.time() < load_until:  # keep the workers busy while schedules fire
            await throughput(aw, 200)
    finally:
        for worker in workers:
            worker.terminate()
            worker.communicate(timeout=30)
        late = await lateness(aw)
        await aw.close()
    print(
        f"schedules: {args.schedules} interval registrations over {args.schedule_minutes} min "
        f"under load: {len(late)} firings, lateness p50 {statistics.median(late):.1f} ms, "
        f"p99 {pct(late, 0.99):.1f} ms, max {max(late):.1f} ms"
    )
    print(
        f"postgresql, {args.workers} workers (concurrency {args.concurrency} each): "
        f"send_event -> run started p50 {statistics.median(samples):.2f} ms, "
        f"p99 {pct(samples, 0.99):.2f} ms ({len(samples)} events); "
        f"three-task runs {rate:.0f}/s ({args.runs} runs)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--schedule-minutes", type=int, default=2)
    args = parser.parse_args()
    name = f"aw_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = args.admin_url.rpartition("/")
        with tempfile.TemporaryDirectory() as scratch:
            await bench(args, f"{base}/{name}", Path(scratch))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
