"""Throughput of a protected Starlette endpoint vs the same endpoint open, in one uvicorn process.

    chrt -r 10 .venv/bin/python bench/http_protected.py [--seconds 10] [--rounds 3]

The server is pinned to CPU 0 and wrk (64 connections) to CPU 1. Each configuration alternates
open / protected runs, the order flipping every round so a slow minute lands on both, and
reports the medians and the median of the per-round ratios; it runs once with the
verified-token cache and once without it (AUTHWARD_VERIFIED_TOKEN_CACHE_SIZE=0). On a shared
machine run it under ``chrt`` (as root), or the server only gets what the scheduler leaves it.
Target (issue 4): protected >= 85 % of open.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUTHWARD = [sys.executable, "-m", "authward"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(url: str, seconds: int, token: str | None = None) -> float:
    cmd = ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", url]
    if token:
        cmd[5:5] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} refused requests\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def run(cache_size: int, seconds: int, rounds: int) -> tuple[float, float, float]:
    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    env = {
        **os.environ,
        "AUTHWARD_DATABASE_URL": f"sqlite:///{tmp / 'authward.db'}",
        "AUTHWARD_KEY_FILE": str(tmp / "authward.key"),
        "AUTHWARD_PORT": str(port),
        "AUTHWARD_VERIFIED_TOKEN_CACHE_SIZE": str(cache_size),
    }
    app = ["--app", str(ROOT / "bench" / "http_app.py")]
    server = subprocess.Popen(
        ["taskset", "-c", "0", *AUTHWARD, "serve", *app],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()
        token = subprocess.run(
            [*AUTHWARD, "machineuser", "token", "admin-machine-user", *app],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        base = f"http://127.0.0.1:{port}"
        wrk(base + "/protected", 2, token)  # warm-up
        opened, protected = [], []
        for i in range(rounds):
            if i % 2:
                protected.append(wrk(base + "/protected", seconds, token))
                opened.append(wrk(base + "/open", seconds))
            else:
                opened.append(wrk(base + "/open", seconds))
                protected.append(wrk(base + "/protected", seconds, token))
        ratios = [p / o for o, p in zip(opened, protected, strict=True)]
        print(
            "  rounds (open, protected, kept):",
            ", ".join(
                f"{o:,.0f} {p:,.0f} {r:.0%}"
                for o, p, r in zip(opened, protected, ratios, strict=True)
            ),
        )
        kept = statistics.median(ratios)
        return statistics.median(opened), statistics.median(protected), kept
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-only", action="store_true", help="skip the run without the cache")
    args = parser.parse_args()
    configs = [("with the verified-token cache", 10_000), ("without the cache", 0)]
    for label, size in configs[:1] if args.cache_only else configs:
        opened, protected, kept = run(size, args.seconds, args.rounds)
        print(
            f"{label}: open {opened:,.0f} req/s, protected {protected:,.0f} req/s, "
            f"{protected / opened:.0%} kept (median of the rounds' ratios {kept:.0%})"
        )
        time.sleep(1)


if __name__ == "__main__":
    main()
