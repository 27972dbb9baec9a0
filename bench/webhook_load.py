"""Webhook ingest for dynamic triggers (issue 6): signed GitHub deliveries into one process.

    .venv/bin/python bench/webhook_load.py [--requests 3000] [--connections 16] [--rounds 3]
        [--database sqlite|postgresql|both] [--worker] [--profile DIR]

One `authward serve` process (uvicorn, 1 worker; `bench/webhook_app.py`) pinned to CPU 0; this
script, the load generator (aiohttp, keep-alive connections), pinned to CPU 1. Before the
server starts, the script registers one GitHub repository webhook on the app's dynamic trigger
against a local GitHub (`tests/peers/github_api.py`), which gives it the delivery URL and the
secret. Each request is then what GitHub's hookshot sends: a realistic `issues`/`opened`
payload (about 4 KB), `X-Hub-Signature-256` over it and a fresh `X-GitHub-Delivery`, so every
request is verified, recorded once and queues one run. A bounded number of requests is sent
(`--requests`, after 200 of warm-up) with `--connections` in flight; every answer must be 202.
Reported per database: req/s and latency p50 / p99, the median of `--rounds` rounds.

By default the server's worker is off (`AUTHWARD_JOBS_WORKER=0`): the figure is ingest alone
(verify, deduplicate, queue the run in one transaction). `--worker` also executes the runs in
the same process, sharing its core.

`--baseline SRC` also serves the authward package under SRC (an older commit's `src/`, from
`git archive`) on its own database. Both servers stay up for the whole run, and each round loads
them one after the other, in an order that flips every round. "server CPU" is the CPU the
server process used (all threads, from /proc) per second of load, in cores.

`--profile DIR` serves under cProfile (`bench/profile_serve.py`), switched on after each round's
warm-up, and writes `DIR/webhook-<database>-<code>.prof` (figures then include its overhead).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from tests.peers import free_port  # noqa: E402
from tests.peers.asgi import serve_asgi  # noqa: E402
from tests.peers.github_api import GithubPeer  # noqa: E402

from authward.config import load_app  # noqa: E402
from authward.jobs import find_job_clients  # noqa: E402
from authward.runtime import Authward  # noqa: E402
from authward.settings import load_settings  # noqa: E402

APP = ROOT / "bench" / "webhook_app.py"
PG_ADMIN_URL = os.environ.get(
    "AUTHWARD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SERVER_CPU, LOAD_CPU = "0", "1"
WARMUP = 200


@contextlib.contextmanager
def database(kind: str, tmp: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp}/authward.db"
        return
    name = f"aw_bench_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@contextlib.asynccontextmanager
async def registered(env: dict[str, str]) -> AsyncIterator[tuple[str, str]]:
    """Migrate, register one webhook through a local GitHub; yield (delivery URL, secret)."""
    peer = GithubPeer({"ghp_bench_developer_token": "bench"})
    async with serve_asgi(peer.app()) as api_url:
        os.environ["AUTHWARD_BENCH_GITHUB_URL"] = api_url
        config, module = load_app(APP)
        settings = load_settings(
            database_url=env["AUTHWARD_DATABASE_URL"],
            key_file=env["AUTHWARD_KEY_FILE"],
            issuer=env["AUTHWARD_ISSUER"],
        )
        aw = await Authward.open(config, settings, migrate=True)
        try:
            (client,) = find_job_clients(module)
            aw.jobs.bind([client])
            info = await client.dynamic_triggers["github-issue-opened"].register(
                "bench", {"owner": "acme", "repo": "widgets"}
            )
        finally:
            await aw.close()
        (hook,) = peer.hooks.values()
        assert hook.url == info["url"]
        yield hook.url, hook.secret


async def load(
    url: str, body: bytes, signature: str, total: int, connections: int
) -> tuple[float, list[float]]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": "issues",
        "X-Hub-Signature-256": signature,
    }
    latencies: list[float] = []
    remaining = iter(range(total))
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one_connection() -> None:
            for _ in remaining:
                h = {**headers, "X-GitHub-Delivery": str(uuid.uuid4())}
                start = time.perf_counter()
                async with session.post(url, data=body, headers=h) as response:
                    await response.read()
                    if response.status != 202:
                        raise SystemExit(f"answer {response.status}: {await response.text()}")
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    return elapsed, latencies


@dataclass
class Server:
    label: str
    process: subprocess.Popen[str]
    url: str
    body: bytes
    signature: str
    rounds: list[dict[str, float]] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process, all its threads (/proc/PID/stat)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(kind: str, args: argparse.Namespace, label: str, src: Path | None) -> Iterator[Server]:
    """Its own database, one registration through a local GitHub, then `authward serve` on CPU 0
    (with `src` first on its path when given: the code under comparison)."""
    with tempfile.TemporaryDirectory(prefix="authward-bench-") as tmp, database(kind, tmp) as url:
        port = free_port()
        env = {
            **os.environ,
            "AUTHWARD_DATABASE_URL": url,
            "AUTHWARD_KEY_FILE": f"{tmp}/authward.key",
            "AUTHWARD_HOST": "127.0.0.1",
            "AUTHWARD_PORT": str(port),
            "AUTHWARD_ISSUER": f"http://127.0.0.1:{port}",
            "AUTHWARD_JOBS_WORKER": "1" if args.worker else "0",
        }

        async def register() -> tuple[str, str]:
            async with registered(env) as found:
                return found

        delivery_url, secret = asyncio.run(register())
        peer = GithubPeer({})
        body = json.dumps(peer.issue_opened_payload("acme", "widgets", 42)).encode()
        signature = peer.sign(secret, body)["X-Hub-Signature-256"]
        command = [sys.executable, "-m", "authward", "serve", "--app", str(APP)]
        if src is not None:
            env["PYTHONPATH"] = str(src)
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            command[1:3] = [str(ROOT / "bench" / "profile_serve.py")]
            env["AUTHWARD_BENCH_PROFILE"] = str(args.profile / f"webhook-{kind}-{label}.prof")
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if "authward: jobs:" in line:
                    break
            else:
                raise SystemExit(f"authward serve exited with {process.wait()}")
            yield Server(label, process, delivery_url, body, signature)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def measure(s: Server, kind: str, args: argparse.Namespace) -> None:
    asyncio.run(load(s.url, s.body, s.signature, WARMUP, args.connections))
    if args.profile is not None:
        s.process.send_signal(signal.SIGUSR1)
    cpu = s.cpu_seconds()
    elapsed, latencies = asyncio.run(
        load(s.url, s.body, s.signature, args.requests, args.connections)
    )
    cpu = s.cpu_seconds() - cpu
    if args.profile is not None:
        s.process.send_signal(signal.SIGUSR2)
    latencies.sort()
    s.rounds.append(
        {
            "rps": args.requests / elapsed,
            "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "cpu": cpu / elapsed,
            "cpu_ms": cpu / args.requests * 1000,
        }
    )
    figures = ", ".join(f"{k} {v:.2f}" for k, v in s.rounds[-1].items())
    print(f"  {kind} {s.label}: {figures}", flush=True)


def run_database(kind: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Every server up for the whole run; each round loads them one after the other, in an
    order that flips every round, so a slow minute of the machine lands on both."""
    with contextlib.ExitStack() as stack:
        servers = []
        if args.baseline is not None:
            servers.append(stack.enter_context(server(kind, args, "baseline", args.baseline)))
        servers.append(stack.enter_context(server(kind, args, "this", None)))
        for n in range(args.rounds):
            for s in servers if n % 2 == 0 else servers[::-1]:
                measure(s, kind, args)
        return {
            s.label: {k: statistics.median(r[k] for r in s.rounds) for k in s.rounds[0]}
            for s in servers
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--profile", type=Path, help="serve under cProfile, .prof files here")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also serve the authward package under this src directory, rounds interleaved",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(
        f"({args.connections} connections, {args.requests} requests, median of {args.rounds}, "
        f"worker {args.worker})"
    )
    results = {kind: run_database(kind, args) for kind in kinds}
    print("| database | code | req/s | p50 ms | p99 ms | server CPU | CPU ms per request |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for kind, by_label in results.items():
        for label, r in by_label.items():
            print(
                f"| {kind} | {label} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} "
                f"| {r['cpu']:.2f} | {r['cpu_ms']:.2f} |"
            )


if __name__ == "__main__":
    main()
