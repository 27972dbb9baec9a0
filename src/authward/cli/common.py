"""What every command shares: ``--app``, opening the runtime, one-line errors, --json output."""

from __future__ import annotations

__all__ = [
    "AppOption",
    "JsonOption",
    "console",
    "fail",
    "not_in_store",
    "note_unsynced",
    "open_runtime",
    "print_json",
    "print_rows",
    "revoke_and_report",
    "run",
    "table",
    "when",
    "write_config",
]

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import uvloop
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from authward.cli.output import ScriptableTable, stdout_console
from authward.config.loader import load_app
from authward.errors import AuthwardError, PruneRequired, SettingsError
from authward.observability.metrics import MetricsPort
from authward.observability.readiness import JobEngineProbe
from authward.settings import Settings, load_settings

if TYPE_CHECKING:
    # Imported when a command opens it: the runtime brings the store and the HTTP stack, which
    # a group's --help does not need.
    from authward.runtime import Authward

console = stdout_console()
err_console = Console(stderr=True)
T = TypeVar("T")

AppOption = Annotated[
    Path,
    typer.Option(
        "--app",
        envvar="AUTHWARD_APP",
        help="The app module that defines the config (default ./app.py, or AUTHWARD_APP).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class State:
    debug = os.environ.get("AUTHWARD_DEBUG") == "1"


def fail(message: str, code: int = 1) -> typer.Exit:
    # Escaped: a message may hold brackets (pip install 'authward[slack]') that are not markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command body; a user mistake becomes one line on stderr (the trace with --debug)."""
    try:
        # uvloop (a dependency, decision 008): uvicorn only installs it when it owns the loop.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    except AuthwardError as exc:
        if State.debug:
            raise
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def note_unsynced(aw: Authward, app: Path) -> None:
    """For a list of machine users or clients: say so on stderr when the store does not hold
    the app's config (before any serve or migrate, or another app's store), since the list
    shows the store and this command will not write it."""
    plan: Counter[str] = Counter(c.action for c in await aw.sync_plan())
    if plan:
        parts = [
            f"{plan[action]} {label}"
            for action, label in (
                ("add", "to add"),
                ("change", "to change"),
                ("remove", "not declared by it"),
            )
            if plan[action]
        ]
        prune = " (deleting those it does not declare needs --prune)" if plan["remove"] else ""
        err_console.print(
            f"note: the store is not in step with {app} (machine users and clients: "
            f"{', '.join(parts)}); `authward migrate --app {app}` writes its config{prune}",
            highlight=False,
            soft_wrap=True,
        )


@asynccontextmanager
async def open_runtime(app: Path, settings: Settings | None = None) -> AsyncIterator[Authward]:
    from authward.runtime import Authward

    config, _ = load_app(app)
    # Only serve, migrate and worker write the config to the store (decision 035).
    aw = await Authward.open(config, settings or load_settings(app=app), sync=False)
    try:
        yield aw
    finally:
        await aw.close()


def not_in_store(what: str, name: str) -> SettingsError:
    """A machine user or client the app declares but no serve or migrate has written yet."""
    return SettingsError(
        f"{what} {name!r} is declared by the app but not in its store yet: "
        "run `authward migrate` or `authward serve` with this app first"
    )


async def write_config(aw: Authward, prune: bool) -> list[str]:
    """What serve, migrate and worker do first: write the config to the store (``prune``, or
    the sync_prune setting, lets it delete what the config no longer declares). When it refuses
    to delete, one line per machine user or client that would go, before the error."""
    try:
        return await aw.sync(prune=prune or None)
    except PruneRequired as exc:
        for what in exc.would_remove:
            print(f"authward: would remove {what}", file=sys.stderr, flush=True)
        raise


def table(*columns: str) -> Table:
    """A table whose cells wrap rather than cut: ids and secrets must stay copyable. In a pipe
    it prints plain tab-separated lines instead (:class:`ScriptableTable`)."""
    t = ScriptableTable()
    for column in columns:
        t.add_column(column, overflow="fold")
    return t


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def when(at: datetime | None, missing: str) -> str:
    """A stored UTC time for a table cell, or ``missing`` (such as "never") when there is none."""
    return f"{at:%Y-%m-%d %H:%M:%S}Z" if at is not None else missing


def print_rows(
    rows: list[dict[str, Any]],
    as_json: bool,
    columns: Sequence[str],
    cells: Callable[[dict[str, Any]], Sequence[str]],
) -> None:
    """A ``list`` command's output: ``rows`` as JSON, or a table of ``cells(row)``."""
    if as_json:
        print_json(rows)
        return
    t = table(*columns)
    for row in rows:
        t.add_row(*cells(row))
    console.print(t)


def revoke_and_report(
    app: Path,
    revoke: Callable[[Authward], Awaitable[bool]],
    get: Callable[[Authward], Awaitable[object | None]],
    *,
    what: str,
    unknown: str,
) -> None:
    """A ``revoke`` command: revoke, then tell "revoked" from "already revoked" (the revoke
    changed nothing but the thing exists) and fail with ``unknown`` when there is no such
    thing. ``what`` names the thing in the answer."""

    async def body() -> str:
        async with open_runtime(app) as aw:
            if await revoke(aw):
                return "revoked"
            return "unknown" if await get(aw) is None else "already revoked"

    outcome = run(body())
    if outcome == "unknown":
        raise fail(unknown)
    console.print(f"{outcome} {what}", highlight=False)


@asynccontextmanager
async def metrics_port(settings: Settings, jobs: JobEngineProbe) -> AsyncIterator[None]:
    """``/metrics`` on ``AUTHWARD_METRICS_PORT`` while the command runs, when it is set."""
    if settings.metrics_port is None:
        yield
        return
    try:
        served = MetricsPort(settings.metrics_host, settings.metrics_port, jobs)
        await served.__aenter__()
    except OSError as exc:
        raise SettingsError(
            f"AUTHWARD_METRICS_PORT: cannot listen on "
            f"{settings.metrics_host}:{settings.metrics_port}: {exc.strerror}"
        ) from None
    try:
        yield
    finally:
        await served.__aexit__()
