"""``authward worker``: execute job runs and fire schedules, without serving HTTP."""

from __future__ import annotations

__all__ = ["register"]

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from authward.cli.common import AppOption, metrics_port, run, write_config
from authward.config.loader import load_app
from authward.errors import ConfigError
from authward.jobs.discovery import find_job_clients
from authward.observability.logs import configure_logging
from authward.observability.otel import start_tracing
from authward.settings import load_settings


async def _work(app_path: Path, overrides: dict[str, object]) -> None:
    config, module = load_app(app_path)
    clients = find_job_clients(module)
    if not any(c.jobs for c in clients):
        raise ConfigError(f"{app_path} defines no jobs: add a JobClient and define_job(...)")
    from authward.runtime import Authward

    settings = load_settings(app=app_path, **overrides)
    configure_logging(settings.log_format, settings.log_level)
    tracing = start_tracing(endpoint=settings.otlp_endpoint, service_name=settings.service_name)
    aw = await Authward.open(config, settings, sync=False)
    if tracing is not None:
        tracing.instrument_engine(aw.engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        for change in await write_config(aw, prune=False):
            print(f"authward: {change}", flush=True)
        aw.jobs.bind(clients)
        await aw.jobs.start()
        print(
            f"authward: worker {aw.jobs.worker_id} running {len(aw.jobs.jobs)} job(s)",
            flush=True,
        )
        async with metrics_port(settings, aw.job_probe):
            await stop.wait()
    finally:
        await aw.close()  # runs in flight go back to the queue for another worker
        if tracing is not None:
            tracing.stop()


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        app_path: AppOption = Path("app.py"),
        concurrency: Annotated[
            int | None, typer.Option(help="Runs executed at once (AUTHWARD_JOBS_CONCURRENCY).")
        ] = None,
        worker_id: Annotated[
            str | None,
            typer.Option(help="This worker's stable, unique id (AUTHWARD_JOBS_WORKER_ID)."),
        ] = None,
    ) -> None:
        """Execute job runs and fire schedules (what `authward serve` also does in-process)."""
        overrides: dict[str, object] = {}
        if concurrency is not None:
            overrides["jobs_concurrency"] = concurrency
        if worker_id is not None:
            overrides["jobs_worker_id"] = worker_id
        run(_work(app_path, overrides))
