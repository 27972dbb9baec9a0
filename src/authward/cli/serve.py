"""``authward serve``, ``migrate`` and ``generate``."""

from __future__ import annotations

__all__ = ["register"]

import asyncio
import gc
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from authward.cli.common import AppOption, console, metrics_port, run, write_config
from authward.codegen import write_types
from authward.config.loader import load_app
from authward.errors import ConfigError, SettingsError
from authward.jobs.discovery import find_job_clients
from authward.observability.logs import configure_logging
from authward.observability.otel import start_tracing
from authward.server.app import build_app
from authward.server.mounts import checked_mounts, lifespans
from authward.settings import load_settings
from authward.store import migrate as migrations
from authward.store.engine import check_connection, create_engine, display_url

PruneOption = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="Delete the machine users and OAuth clients the app no longer declares "
        "(their tokens stop working); without it the command refuses and lists them.",
    ),
]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every response waits out the peer's delayed ACK (about 40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal that stopped it as soon as it has stopped, which kills the
    process (SIGTERM) or cancels the closing runtime (SIGINT) before authward has flushed its
    audit rows, handed runs in flight back and closed its database. ``_serve`` handles the
    signals instead, and acts on them once authward has closed."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(app_path: Path, host: str | None, port: int | None, prune: bool) -> None:
    config, module = load_app(app_path)
    job_clients = find_job_clients(module)
    mount = getattr(module, "asgi", None)
    if mount is not None and not callable(mount):
        raise ConfigError(f"{app_path}: asgi must be a function asgi(aw) returning an ASGI app")
    mounts_of = getattr(module, "mounts", None)
    if mounts_of is not None and not callable(mounts_of):
        raise ConfigError(f"{app_path}: mounts must be a function mounts(aw) returning a mapping")
    base = load_settings(app=app_path)
    configure_logging(base.log_format, base.log_level)
    sock = _bind(host or base.host, base.port if port is None else port)
    bound_port = sock.getsockname()[1]
    settings = load_settings(app=app_path, host=host or base.host, port=bound_port)
    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    try:
        tracing = start_tracing(endpoint=settings.otlp_endpoint, service_name=settings.service_name)
        from authward.runtime import Authward

        aw = await Authward.open(config, settings, record_issuer=True, sync=False)
    except BaseException:
        sock.close()
        raise
    if tracing is not None:
        tracing.instrument_engine(aw.engine)
    try:
        changes = await write_config(aw, prune)
        mounts = checked_mounts(str(app_path), mounts_of(aw)) if mounts_of else {}
    except BaseException:
        await aw.close()
        sock.close()
        raise
    server = _Server(
        uvicorn.Config(
            build_app(aw, mount=mount, mounts=mounts),
            log_level="warning",
            # authward's own handler (JSON or text) and its own access log (server/observe.py).
            log_config=None,
            access_log=False,
            lifespan="off",
            # uvicorn believes X-Forwarded-For from loopback by default, which would let any
            # local peer pick its address, and so its throttling key (decision 037).
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
        )
    )
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"http://{shown_host}:{bound_port}"
    print(f"authward: serving {app_path} at {url}", flush=True)
    print(f"authward: issuer {aw.issuer}, database {display_url(aw.engine.url)}", flush=True)
    for change in changes:
        print(f"authward: {change}", flush=True)
    stopped_by: list[int] = []

    def stop(sig: int) -> None:
        stopped_by.append(sig)
        server.handle_exit(sig, None)  # a second Ctrl-C stops without waiting for requests

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        aw.jobs.bind(job_clients)
        if aw.jobs.jobs and settings.jobs_worker:  # the embedded worker and scheduler
            await aw.jobs.start()
            print(f"authward: jobs: {len(aw.jobs.jobs)} job(s), worker started", flush=True)
        elif aw.jobs.jobs:  # runs are queued here and executed by `authward worker`s
            await aw.jobs.start(worker=False, scheduler=False)
            print(f"authward: jobs: {len(aw.jobs.jobs)} job(s), worker off", flush=True)
        # What start-up built lives as long as the server: kept out of the collector's passes,
        # which would otherwise walk it again and again and pause requests while they do.
        async with lifespans(list(mounts.items())), metrics_port(settings, aw.job_probe):
            gc.collect()
            gc.freeze()
            await server.serve(sockets=[sock])
    finally:
        await aw.close()
        sock.close()
        if tracing is not None:
            tracing.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if signal.SIGINT in stopped_by:
        raise KeyboardInterrupt  # exit status 130, as for any command stopped with Ctrl-C


async def _migrate(app_path: Path, prune: bool) -> list[str]:
    config, _ = load_app(app_path)
    settings = load_settings(app=app_path)
    engine = create_engine(settings.database_url)
    try:
        await check_connection(engine)
        changes = await migrations.migrate(engine, config.db_types)
    finally:
        await engine.dispose()
    from authward.runtime import Authward

    aw = await Authward.open(config, settings, migrate=False, sync=False)
    try:
        return changes + await write_config(aw, prune)
    finally:
        await aw.close()


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        app_path: AppOption = Path("app.py"),
        host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
        port: Annotated[int | None, typer.Option(help="Port (0 picks a free one).")] = None,
        prune: PruneOption = False,
    ) -> None:
        """Serve the app (migrating the embedded SQLite store first, then syncing the config)."""
        run(_serve(app_path, host, port, prune))

    @app.command("migrate")
    def migrate(app_path: AppOption = Path("app.py"), prune: PruneOption = False) -> None:
        """Apply schema migrations and the app's type tables, then sync the config."""
        changes = run(_migrate(app_path, prune))
        for change in changes:
            console.print(f"  {change}", highlight=False)
        console.print("up to date" if not changes else f"{len(changes)} change(s) applied")

    @app.command("generate")
    def generate(
        app_path: AppOption = Path("app.py"),
        out: Annotated[
            Path | None,
            typer.Option(help="Where to write (default: authward_types.py beside the app)."),
        ] = None,
    ) -> None:
        """Write typed stubs (machine-user names, attribute TypedDicts) for mypy."""

        async def body() -> Path:
            config, _ = load_app(app_path)
            target = out or app_path.resolve().parent / "authward_types.py"
            changed = write_types(config, target)
            console.print(f"{'wrote' if changed else 'unchanged'} {target}", highlight=False)
            return target

        run(body())
