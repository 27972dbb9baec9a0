"""Throughput of a protected Starlette endpoint: against the same endpoint open, or an older commit.

    chrt -r 10 .venv/bin/python bench/http_protected.py [--seconds 10] [--rounds 3]
        [--cache-only] [--baseline SRC]

`bench/http_app.py` served by one uvicorn process on a fresh SQLite store, pinned to CPU 0; wrk
(64 connections, one thread) on CPU 1; the protected endpoint is called with a machine user's
access token. It runs once with the verified-token cache and once without it
(AUTHWARD_VERIFIED_TOKEN_CACHE_SIZE=0). On a shared machine run it under ``chrt`` (as root), or
the server only gets what the scheduler leaves it.

- By default each configuration alternates open / protected runs on one server, the order
  flipping every round so a slow minute lands on both, and reports the medians and the median of
  the per-round ratios. Target (issue 4): protected >= 85 % of open.
- With ``--baseline SRC`` (an older commit's src/, e.g. from `git archive REV src | tar -x -C
  DIR`, then DIR/src) a second server runs the authward package under SRC (on PYTHONPATH, its
  own store), also pinned to CPU 0, and the protected endpoint of the two is loaded in turn, the
  order flipping every round: req/s, p50, p99 and CPU of each (medians), and the current code's
  req/s and p99 divided by the baseline's. Target (issue 14): req/s >= 0.90, p99 <= 1.00.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.oauth_load import Request, Result, free_port, running, wrk  # noqa: E402

AUTHWARD = [sys.executable, "-m", "authward"]
APP = ["--app", str(ROOT / "bench" / "http_app.py")]
CONNECTIONS = 64


@dataclass(frozen=True)
class Served:
    base: str
    token: str  # a machine user's access token
    pid: int

    def request(self, path: str) -> Request:
        headers = {"Authorization": f"Bearer {self.token}"} if path == "/protected" else {}
        return Request(self.base + path, headers=headers)


@contextmanager
def serve(cache_size: int, src: Path | None = None) -> Iterator[Served]:
    """`authward serve` of the app on a fresh SQLite store; with ``src``, the authward package
    under that directory serves (and its CLI issues the token)."""
    with tempfile.TemporaryDirectory(prefix="authward-bench-") as tmp:
        env = {
            **os.environ,
            **({"PYTHONPATH": str(src.resolve())} if src is not None else {}),
            "AUTHWARD_DATABASE_URL": f"sqlite:///{tmp}/authward.db",
            "AUTHWARD_KEY_FILE": f"{tmp}/authward.key",
            "AUTHWARD_HOST": "127.0.0.1",
            "AUTHWARD_PORT": str(free_port()),
            "AUTHWARD_VERIFIED_TOKEN_CACHE_SIZE": str(cache_size),
        }
        env.pop("AUTHWARD_ISSUER", None)
        with running([*AUTHWARD, "serve", *APP], env, "authward: serving") as (process, line):
            token = subprocess.run(
                [*AUTHWARD, "machineuser", "token", "admin-machine-user", *APP],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            yield Served(line.split()[-1], token, process.pid)


def load(request: Request, seconds: int, pid: int) -> Result:
    result = wrk(request, CONNECTIONS, seconds, pid)
    if result.refused:
        raise SystemExit(f"{request.url}: {result.refused} refused requests: figures not valid")
    return result


def open_vs_protected(cache_size: int, seconds: int, rounds: int) -> tuple[float, float, float]:
    with serve(cache_size) as server:
        opened_request, protected_request = server.request("/open"), server.request("/protected")
        protected_request.check()
        load(protected_request, 2, server.pid)  # warm-up
        opened, protected = [], []
        for i in range(rounds):
            for which in ("protected", "open") if i % 2 else ("open", "protected"):
                if which == "open":
                    opened.append(load(opened_request, seconds, server.pid).rps)
                else:
                    protected.append(load(protected_request, seconds, server.pid).rps)
        ratios = [p / o for o, p in zip(opened, protected, strict=True)]
        print(
            "  rounds (open, protected, kept):",
            ", ".join(
                f"{o:,.0f} {p:,.0f} {r:.0%}"
                for o, p, r in zip(opened, protected, ratios, strict=True)
            ),
            flush=True,
        )
        kept = statistics.median(ratios)
        return statistics.median(opened), statistics.median(protected), kept


def against_baseline(label: str, cache_size: int, seconds: int, rounds: int, src: Path) -> str:
    """The protected endpoint of the current code and of the one under ``src``, in turn; one
    markdown row of the medians."""
    with ExitStack() as stack:
        servers = {
            "current": stack.enter_context(serve(cache_size)),
            "baseline": stack.enter_context(serve(cache_size, src)),
        }
        requests = {name: server.request("/protected") for name, server in servers.items()}
        for name, server in servers.items():
            requests[name].check()
            load(requests[name], 2, server.pid)  # warm-up
        results: dict[str, list[Result]] = {name: [] for name in servers}
        for r in range(rounds):
            for name in list(servers) if r % 2 == 0 else list(servers)[::-1]:
                result = load(requests[name], seconds, servers[name].pid)
                results[name].append(result)
                print(
                    f"  {label}, round {r + 1}, {name:<8} {result.rps:>8,.0f} req/s  "
                    f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
                    f"CPU {result.cpu:4.2f}",
                    flush=True,
                )
    cells, rps, p99 = [], {}, {}
    for name, runs in results.items():
        rps[name] = statistics.median(x.rps for x in runs)
        p99[name] = statistics.median(x.p99_ms for x in runs)
        p50 = statistics.median(x.p50_ms for x in runs)
        cpu = statistics.median(x.cpu for x in runs)
        cells.append(f"{rps[name]:,.0f} | {p50:.1f} ms | {p99[name]:.1f} ms | {cpu:.2f}")
    ratios = f"{rps['current'] / rps['baseline']:.2f} | {p99['current'] / p99['baseline']:.2f}"
    return f"| {label} | " + " | ".join(cells) + f" | {ratios} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-only", action="store_true", help="skip the run without the cache")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="SRC",
        help="set the protected endpoint against the authward package under SRC (an older "
        "commit's src/) instead of against the open endpoint",
    )
    args = parser.parse_args()
    if args.baseline is not None and not (args.baseline / "authward" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {args.baseline}: no authward package there (give its src/)")
    configs = [("with the verified-token cache", 10_000), ("without the cache", 0)]
    configs = configs[:1] if args.cache_only else configs
    if args.baseline is not None:
        rows = [
            against_baseline(label, size, args.seconds, args.rounds, args.baseline)
            for label, size in configs
        ]
        print(
            f"\nprotected endpoint, {CONNECTIONS} connections; ratios ÷: current / baseline\n"
            "| configuration | current req/s | p50 | p99 | CPU | baseline req/s | p50 | p99 | CPU "
            "| req/s ÷ baseline | p99 ÷ baseline |\n"
            "| --- |" + " ---: |" * 10 + "\n" + "\n".join(rows),
            flush=True,
        )
        return
    for label, size in configs:
        opened, protected, kept = open_vs_protected(size, args.seconds, args.rounds)
        print(
            f"{label}: open {opened:,.0f} req/s, protected {protected:,.0f} req/s, "
            f"{protected / opened:.0%} kept (median of the rounds' ratios {kept:.0%})",
            flush=True,
        )


if __name__ == "__main__":
    main()
