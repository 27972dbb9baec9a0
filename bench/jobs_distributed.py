"""Jobs, distributed on PostgreSQL: ``send_event`` -> run started (p50 / p99) and three-task
runs per second with N `authward worker` processes, the sender running no worker (what
`authward serve` does with AUTHWARD_JOBS_WORKER=0), and the CPU an idle worker burns.

    .venv/bin/python bench/jobs_distributed.py [--workers 2] [--poll 0.1 0.02] [--rounds 2]
        [--baseline SRC] [--events 200] [--runs 500]

The current engine (DBOS, decision 046) hands runs to workers through its queue, which each
worker polls every AUTHWARD_JOBS_POLL_SECONDS: it is measured at each ``--poll`` value, each
worker with its own AUTHWARD_JOBS_WORKER_ID. With ``--baseline SRC`` (an older commit's src/,
e.g. from `git archive 7a1a746 src | tar -x -C DIR`, then DIR/src) the engine under SRC is
measured too, at its own defaults (the engine before DBOS: LISTEN/NOTIFY wake-ups, a 1 s poll);
the variants take turns, the order flipping each round. Each measurement runs in a process of its
own (its workers too) on a scratch database created on the server of ``--admin-url`` and dropped
afterwards.

"Started" is the wall-clock time the run function was entered in the worker (its output),
minus the time just before ``send_event`` in the sender; one event at a time, on idle workers.
Throughput queues every run first, then times until the last one is stored as succeeded. Idle
CPU is the user + system time of each worker over ``--idle-seconds`` with nothing to do, read
from /proc before anything is sent.

With ``--sender-worker`` the sender runs a worker too (what `authward serve` does by default, so
a deployment of several servers): a run it queues starts in that process, with the workers
beside it; the throughput is then that of N + 1 executing processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/ is the script's path
from jobs_load import authward_src, medians, run_child, scratch_database

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "app.py"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
JOBS_APP = """
import time

from app import config  # noqa: F401

from authward.jobs import JobClient, event_trigger

client = JobClient(id="bench")


@client.job(id="start", name="start", version="1", trigger=event_trigger(name="start"))
async def start(payload, io, ctx):
    return time.time()


@client.job(id="three", name="three", version="1", trigger=event_trigger(name="three"))
async def three(payload, io, ctx):
    a = await io.run_task("a", lambda: 1)
    b = await io.run_task("b", lambda: 2)
    return await io.run_task("c", lambda: a + b)
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def bench(args: argparse.Namespace, url: str, scratch: Path) -> dict[str, Any]:
    """One measurement: workers started here, this process only sends."""
    from sqlalchemy import func, select

    import authward
    from authward.config import load_app
    from authward.jobs import find_job_clients
    from authward.runtime import Authward
    from authward.settings import load_settings
    from authward.store.schema import job_runs

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

    shutil.copy(EXAMPLE, scratch / "app.py")
    (scratch / "bench_jobs.py").write_text(JOBS_APP)
    config, module = load_app(scratch / "bench_jobs.py")
    from authward.settings import Settings

    own: dict[str, Any] = {}
    if args.sender_worker:
        own["jobs_concurrency"] = args.concurrency
        if args.poll is not None:
            own["jobs_poll_seconds"] = args.poll
        if "jobs_worker_id" in Settings.model_fields:  # the engine before DBOS had none
            own["jobs_worker_id"] = "bench-sender"
    settings = load_settings(database_url=url, key_file=scratch / "authward.key", **own)
    aw = await Authward.open(config, settings, migrate=True)
    aw.jobs.bind(find_job_clients(module))
    if args.sender_worker:
        await aw.jobs.start(worker=True, scheduler=False)
    # Otherwise bound, never started: this process only sends.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")},
        "AUTHWARD_DATABASE_URL": url,
        "AUTHWARD_KEY_FILE": str(scratch / "authward.key"),
        "AUTHWARD_JOBS_CONCURRENCY": str(args.concurrency),
    }
    if args.poll is not None:
        env["AUTHWARD_JOBS_POLL_SECONDS"] = str(args.poll)
    workers = [
        subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
            [sys.executable, "-m", "authward", "worker", "--app", "bench_jobs.py"],
            cwd=scratch,
            env={**env, "AUTHWARD_JOBS_WORKER_ID": f"bench-worker-{n}"},
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(args.workers)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            while "running" not in worker.stdout.readline():  # "authward: worker ... running"
                if worker.poll() is not None:
                    raise RuntimeError("a worker did not start")
        await asyncio.sleep(1)
        before = [cpu_seconds(w.pid) for w in workers]
        await asyncio.sleep(args.idle_seconds)
        idle = [
            (cpu_seconds(w.pid) - b) / args.idle_seconds
            for w, b in zip(workers, before, strict=True)
        ]
        await latency(aw, 20)  # warm-up
        samples = await latency(aw, args.events)
        rate = await throughput(aw, args.runs)
    finally:
        for worker in workers:
            worker.terminate()
            worker.communicate(timeout=60)
        await aw.close()
    return {
        "authward": str(Path(authward.__file__).parent),
        "p50": statistics.median(samples),
        "p99": pct(samples, 0.99),
        "rate": rate,
        "idle_cpu": statistics.mean(idle),
    }


async def child(args: argparse.Namespace) -> None:
    async with scratch_database(args.admin_url) as url:
        with tempfile.TemporaryDirectory() as scratch:
            result = await bench(args, url, Path(scratch))
    print(json.dumps(result), flush=True)


def run_one(src: Path | None, poll: float | None, args: argparse.Namespace) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    command = [sys.executable, __file__, "--child", "--admin-url", args.admin_url]
    for flag in ("workers", "events", "runs", "concurrency", "idle_seconds"):
        command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    if poll is not None:
        command += ["--poll", str(poll)]
    if args.sender_worker:
        command.append("--sender-worker")
    return run_child(command, "distributed", env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--poll",
        type=float,
        nargs="+",
        default=[0.1, 0.02],
        help="AUTHWARD_JOBS_POLL_SECONDS values for the current engine (the baseline runs at "
        "its own default)",
    )
    parser.add_argument(
        "--baseline",
        type=authward_src,
        metavar="SRC",
        help="also measure the authward package under SRC (an older commit's src/) in turn",
    )
    parser.add_argument(
        "--sender-worker",
        action="store_true",
        help="the sender runs a worker too (authward serve's default)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.poll = args.poll[0] if args.poll else None
        asyncio.run(child(args))
        return
    variants: dict[str, tuple[Path | None, float | None]] = {
        f"current, poll {p:g} s": (None, p) for p in args.poll
    }
    if args.baseline is not None:
        variants["baseline, its defaults"] = (args.baseline, None)
    print(
        f"postgresql, {args.workers} workers (concurrency {args.concurrency} each), the sender "
        f"{'running a worker too' if args.sender_worker else 'running none'}; "
        f"{args.events} events one at a time, then {args.runs} three-task runs; "
        "load = 1-min load average before the measurement",
        flush=True,
    )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for r in range(args.rounds):
        order = list(variants) if r % 2 == 0 else list(variants)[::-1]
        for name in order:
            res = run_one(*variants[name], args)
            results[name].append(res)
            print(
                f"  round {r + 1} {name:<24} send_event -> started p50 {res['p50']:7.2f} ms, "
                f"p99 {res['p99']:7.2f} ms; three-task runs {res['rate']:6.1f}/s; idle worker "
                f"CPU {res['idle_cpu']:.1%} (load {res['load']:.1f}; {res['authward']})",
                flush=True,
            )
        if args.baseline is not None:
            then = results["baseline, its defaults"][-1]
            for name in variants:
                if name.startswith("current"):
                    now = results[name][-1]
                    print(
                        f"  round {r + 1} {name} / baseline: throughput "
                        f"{now['rate'] / then['rate']:.2f}x",
                        flush=True,
                    )
    for name, rows in results.items():
        print(
            f"{name}: {medians(rows)}, idle worker CPU "
            f"{statistics.median(x['idle_cpu'] for x in rows):.1%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
