"""Jobs, embedded: ``send_event`` -> run started (p50 / p99), and runs completed per second for
a job of three trivial tasks. One process: the sender and the embedded worker share the loop.

    .venv/bin/python bench/jobs_load.py [--database sqlite|postgresql|both] [--rounds 2]
        [--baseline SRC] [--concurrency 10] [--events 300] [--runs 500]

Each measurement runs in a process of its own on a fresh store (a scratch SQLite directory, or a
scratch PostgreSQL database on the server of ``--admin-url``, dropped afterwards). With
``--baseline SRC`` (an older commit's src/, e.g. from `git archive 7a1a746 src | tar -x -C DIR`,
then DIR/src) the same measurement also runs with that authward on PYTHONPATH; the two take
turns, the order flipping each round, and each figure is printed with the load average before it
and the ratio current / baseline of the round.

"Started" is the moment the run function is entered; latency is measured one event at a time on
an idle worker. Throughput queues every run first, then times until the last one is stored as
succeeded; the CPU time of the process (all its threads) over that stretch is printed per run,
a figure the machine's load does not stretch. Each engine runs with its own default settings (the
poll interval included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "app.py"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
entered: dict[str, float] = {}


def authward_src(value: str) -> Path:
    """The type of the jobs benches' ``--baseline``: an older commit's src/, with authward in it."""
    path = Path(value)
    if not (path / "authward" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{value}: no authward package there (give its src/)")
    return path


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(url: str, scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in this process, with whichever authward is importable."""
    from sqlalchemy import func, select

    import authward
    from authward.config import load_app
    from authward.jobs import Io, JobClient, JobsRuntime, RunContext, event_trigger
    from authward.runtime import Authward
    from authward.settings import load_settings
    from authward.store.schema import job_runs

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

    async def throughput(aw: Authward, count: int) -> tuple[float, float]:
        """Runs per second, and this process's CPU milliseconds (every thread) per run."""
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(count):
            await client.send_event({"name": "three", "id": f"tp-{i}"})
        query = select(func.count()).where(
            job_runs.c.job_id == "three", job_runs.c.status == "succeeded"
        )
        while True:
            async with aw.engine.connect() as conn:
                done = int((await conn.execute(query)).scalar_one())
            if done >= count:
                per_run = (time.process_time() - cpu) / count * 1000
                return count / (time.perf_counter() - started), per_run
            await asyncio.sleep(0.01)

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
        rate, cpu_ms = await throughput(aw, args.runs)
    finally:
        await aw.close()
    return {
        "authward": str(Path(authward.__file__).parent),
        "p50": statistics.median(samples),
        "p99": pct(samples, 0.99),
        "rate": rate,
        "cpu_ms": cpu_ms,
    }


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str, driver: str | None = None) -> AsyncIterator[str]:
    """A PostgreSQL database of its own on the server of ``admin_url``, dropped afterwards;
    yields its URL, with ``driver`` (``asyncpg``, ``psycopg``) if given."""
    import asyncpg

    name = f"aw_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = admin_url.rpartition("/")
        if driver is not None:
            base = base.replace("postgresql:", f"postgresql+{driver}:", 1)
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def child(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp())
    if args.child == "sqlite":
        result = await measure(f"sqlite+aiosqlite:///{scratch / 'authward.db'}", scratch, args)
    else:
        async with scratch_database(args.admin_url, "asyncpg") as url:
            result = await measure(url, scratch, args)
    print(json.dumps(result), flush=True)


def medians(rows: list[dict[str, Any]]) -> str:
    """What every jobs bench prints of a variant's rounds: the medians of started p50 / p99 and
    of the three-task runs per second."""
    return (
        f"median of {len(rows)} rounds: p50 {statistics.median(x['p50'] for x in rows):.2f} ms, "
        f"p99 {statistics.median(x['p99'] for x in rows):.2f} ms, three-task runs "
        f"{statistics.median(x['rate'] for x in rows):.1f}/s"
    )


def run_child(command: list[str], what: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One measurement in a process of its own: its last line of output is its figures (JSON),
    to which the load average before it is added."""
    load = os.getloadavg()[0]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the {what} measurement failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["load"] = load
    return result


def run_one(kind: str, src: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    command = [sys.executable, __file__, "--child", kind, "--admin-url", args.admin_url]
    for flag in ("events", "runs", "concurrency"):
        command += [f"--{flag}", str(getattr(args, flag))]
    return run_child(command, kind, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--baseline",
        type=authward_src,
        metavar="SRC",
        help="also measure the authward package under SRC (an older commit's src/) in turn",
    )
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args))
        return
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    codes: dict[str, Path | None] = {"current": None}
    if args.baseline is not None:
        codes["baseline"] = args.baseline
    print(
        f"{args.events} events one at a time, then {args.runs} three-task runs, "
        f"concurrency {args.concurrency}; load = 1-min load average before the measurement",
        flush=True,
    )
    for kind in kinds:
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
        for r in range(args.rounds):
            order = list(codes) if r % 2 == 0 else list(codes)[::-1]
            for name in order:
                res = run_one(kind, codes[name], args)
                results[name].append(res)
                print(
                    f"  {kind:<10} round {r + 1} {name:<8} send_event -> started p50 "
                    f"{res['p50']:6.2f} ms, p99 {res['p99']:6.2f} ms; three-task runs "
                    f"{res['rate']:6.1f}/s, {res['cpu_ms']:.1f} CPU ms per run "
                    f"(load {res['load']:.1f}; {res['authward']})",
                    flush=True,
                )
            if "baseline" in codes:
                now, then = results["current"][-1], results["baseline"][-1]
                print(
                    f"  {kind:<10} round {r + 1} current / baseline: throughput "
                    f"{now['rate'] / then['rate']:.2f}x, p50 {now['p50'] / then['p50']:.2f}x",
                    flush=True,
                )
        for name, rows in results.items():
            print(
                f"{kind}, {name}: {medians(rows)}, "
                f"{statistics.median(x['cpu_ms'] for x in rows):.1f} CPU ms per run",
                flush=True,
            )


if __name__ == "__main__":
    main()
