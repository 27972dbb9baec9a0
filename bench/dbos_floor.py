"""DBOS alone, no authward: CPU per workflow of N no-op async steps. The floor under
``bench/jobs_load.py``'s three-task runs: what DBOS's own checkpoints cost before authward does
anything (docs/benchmarks.md, "Jobs on DBOS against the engine before it").

    .venv/bin/python bench/dbos_floor.py [--database sqlite|postgresql|both] [--steps 0 3]
        [--runs 300] [--start here|queue] [--baseline SRC]

With ``--baseline SRC`` (the engine before DBOS: `git archive 7a1a746 src | tar -x -C DIR`, then
DIR/src) the same invocation also measures that engine's whole three-task run with
``bench/jobs_load.py`` (its CPU per run, the same number of runs) and prints the throughput
ceiling the floor leaves: old CPU per run / floor CPU per workflow, the ratio DBOS could reach
if authward's own work on top of it cost nothing.

Each figure is a fresh process and a fresh system database (a scratch SQLite file in WAL mode,
or a scratch PostgreSQL database, dropped afterwards), with the engine settings authward uses
(``store.engine.jobs_engine_kwargs``). ``here`` starts each workflow in-process
(``start_workflow_async``), ``queue`` enqueues it on a polled queue the same process serves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jobs_load  # bench/ is the script's path
from jobs_load import ADMIN_URL, authward_src, run_child, scratch_database


async def measure(url: str, steps: int, runs: int, start: str) -> float:
    from dbos import DBOS, DBOSConfig, SetWorkflowID

    from authward.store.engine import jobs_engine_kwargs, prepare_jobs_database

    DBOS.migrate(url)
    prepare_jobs_database(url)
    config: DBOSConfig = {
        "name": "floor",
        "system_database_url": url,
        "application_version": "floor-1",
        "log_level": "ERROR",
        "db_engine_kwargs": jobs_engine_kwargs(url),
    }
    DBOS(config=config)
    finished = asyncio.Event()
    done = 0

    async def nop(i: int) -> dict[str, int]:
        return {"output": i}

    @DBOS.workflow(name="floor", max_recovery_attempts=None)
    async def workflow(run_id: str) -> None:
        nonlocal done
        for i in range(steps):
            await DBOS.run_step_async({"name": f"s{i}"}, nop, i)
        done += 1
        if done == runs:
            finished.set()

    DBOS.launch()
    if start == "queue":
        await DBOS.register_queue_async("floor", worker_concurrency=100, polling_interval_sec=0.1)
    cpu = time.process_time()
    for i in range(runs):
        with SetWorkflowID(f"r{i}"):
            if start == "here":
                await DBOS.start_workflow_async(workflow, f"r{i}")
            else:
                await DBOS.enqueue_workflow_async("floor", workflow, f"r{i}")
    await finished.wait()
    per_run = (time.process_time() - cpu) / runs * 1000
    DBOS.destroy()
    return per_run


async def child(args: argparse.Namespace) -> None:
    if args.child == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'floor-jobs.db'}"
        result = await measure(url, args.steps[0], args.runs, args.start)
    else:
        async with scratch_database(args.admin_url, "psycopg") as url:
            result = await measure(url, args.steps[0], args.runs, args.start)
    print(json.dumps({"cpu_ms": result}), flush=True)


def run_one(kind: str, steps: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, "--steps", str(steps)]
    command += ["--runs", str(args.runs), "--start", args.start, "--admin-url", args.admin_url]
    return run_child(command, kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 3])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--start", choices=["here", "queue"], default="here")
    parser.add_argument(
        "--baseline",
        type=authward_src,
        metavar="SRC",
        help="also measure the old engine's whole three-task run (an older commit's src/)",
    )
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args))
        return
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(f"{args.runs} workflows started {args.start}; load: 1-min load average", flush=True)
    for kind in kinds:
        floors = {}
        for steps in args.steps:
            res = run_one(kind, steps, args)
            floors[steps] = res["cpu_ms"]
            print(
                f"  {kind:<10} {steps} no-op steps: {res['cpu_ms']:.2f} CPU ms per workflow "
                f"(load {res['load']:.1f})",
                flush=True,
            )
        if args.baseline is None:
            continue
        old = jobs_load.run_one(kind, args.baseline, old_engine_args(args))
        print(
            f"  {kind:<10} old engine, whole three-task run: {old['cpu_ms']:.2f} CPU ms "
            f"(load {old['load']:.1f}); ceiling, old / floor: "
            + ", ".join(f"{steps} steps {old['cpu_ms'] / ms:.2f}x" for steps, ms in floors.items()),
            flush=True,
        )


def old_engine_args(args: argparse.Namespace) -> argparse.Namespace:
    """jobs_load's child, as many three-task runs as workflows here; its latency part short."""
    return argparse.Namespace(admin_url=args.admin_url, events=20, runs=args.runs, concurrency=10)


if __name__ == "__main__":
    main()
