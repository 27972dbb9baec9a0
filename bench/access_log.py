"""The access log's cost in-process: CPU per request of the ASGI app called directly, on and off.

    .venv/bin/python bench/access_log.py [--requests 4000] [--rounds 7] [--format json|text]
        [--profile]

Two apps built by ``build_app`` over one SQLite store (`bench/oauth_app.py`), one with
``AUTHWARD_ACCESS_LOG`` on and one with it off, logging configured as ``authward serve`` does
(``configure_logging``) with stderr sent to a file, as a deployment's log collector would have
it. Each round sends ``--requests`` requests to each app in turn (the order flipping every
round): ``GET /.well-known/jwks.json`` and a ``client_credentials`` token request. Reported: the
median CPU per request (``time.process_time``, every thread of the process: the log's writer
too) and the on/off ratio of requests per CPU-second. ``--profile`` runs the access-log-on app
under cProfile once more and prints where its time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.types import ASGIApp, Message

from authward.config.loader import load_app
from authward.observability.logs import configure_logging
from authward.runtime import Authward
from authward.server.app import build_app
from authward.settings import load_settings

APP = Path(__file__).resolve().parent / "oauth_app.py"
Call = Callable[[], Awaitable[int]]


def caller(
    app: ASGIApp, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> Call:
    """One request to ``app`` as uvicorn would hand it over; returns the status."""
    scope_headers = [(b"host", b"127.0.0.1:8000"), *headers]

    async def call() -> int:
        status = 0
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": list(scope_headers),
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)
        return status

    return call


async def cpu_per_request(call: Call, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        await call()
    return (time.process_time() - started) / requests


async def main(args: argparse.Namespace) -> None:
    config, _ = load_app(APP)
    with tempfile.TemporaryDirectory(prefix="authward-bench-") as tmp:
        log_fd = os.open(f"{tmp}/stderr.log", os.O_WRONLY | os.O_CREAT)
        saved_stderr = os.dup(2)
        os.dup2(log_fd, 2)
        configure_logging(args.format, "info")
        common = {"database_url": f"sqlite+aiosqlite:///{tmp}/a.db", "key_file": f"{tmp}/k"}
        on = await Authward.open(config, load_settings(**common, access_log=True), migrate=True)
        off = await Authward.open(config, load_settings(**common, access_log=False))
        try:
            machine = await on.machine_users.get("bench-machine")
            secret = await on.machine_users.client_secret("bench-machine")
            if machine is None or secret is None:
                raise SystemExit(f"{APP} must define bench-machine")
            basic = base64.b64encode(f"{machine.client_id}:{secret.get_secret_value()}".encode())
            token_headers = [
                (b"authorization", b"Basic " + basic),
                (b"content-type", b"application/x-www-form-urlencoded"),
            ]
            calls: dict[tuple[str, str], Call] = {}
            for label, aw in (("on", on), ("off", off)):
                app = build_app(aw)
                calls[("jwks", label)] = caller(app, "GET", "/.well-known/jwks.json", [], b"")
                calls[("client_credentials", label)] = caller(
                    app, "POST", "/oauth2/token", token_headers, b"grant_type=client_credentials"
                )
            for (endpoint, label), call in calls.items():
                status = await call()
                if status != 200:
                    raise SystemExit(f"{endpoint} answered {status} (access log {label})")
                await cpu_per_request(call, args.requests // 4)  # warm-up
            results: dict[tuple[str, str], list[float]] = {}
            for r in range(args.rounds):
                for endpoint in ("jwks", "client_credentials"):
                    order = ("on", "off") if r % 2 == 0 else ("off", "on")
                    for label in order:
                        cost = await cpu_per_request(calls[(endpoint, label)], args.requests)
                        results.setdefault((endpoint, label), []).append(cost)
            report = [
                f"access log, in-process, {args.format} lines to a file, "
                f"medians of {args.rounds} rounds of {args.requests} requests",
                "| endpoint | CPU per request, log on | log off | per CPU-second, on ÷ off |",
                "| --- | ---: | ---: | ---: |",
            ]
            for endpoint in ("jwks", "client_credentials"):
                cost_on = statistics.median(results[(endpoint, "on")])
                cost_off = statistics.median(results[(endpoint, "off")])
                report.append(
                    f"| {endpoint} | {cost_on * 1e6:.1f} µs | {cost_off * 1e6:.1f} µs "
                    f"| {cost_off / cost_on:.2f} |"
                )
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                await cpu_per_request(calls[("jwks", "on")], args.requests)
                profiler.disable()
        finally:
            await on.close()
            await off.close()
            logging.shutdown()
            os.dup2(saved_stderr, 2)
            os.close(log_fd)
        print("\n".join(report), flush=True)
        if args.profile:
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--format", choices=["json", "text"], default="json")
    parser.add_argument("--profile", action="store_true")
    asyncio.run(main(parser.parse_args()))
