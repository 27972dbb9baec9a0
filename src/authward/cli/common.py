"""What every command shares: ``--app``, opening the runtime, one-line errors, --json output."""

from __future__ import annotations

__all__ = [
    "AppOption",
    "JsonOption",
    "console",
    "fail",
    "open_runtime",
    "print_json",
    "run",
    "table",
]

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvloop
from rich.console import Console
from rich.table import Table

from authward.config.loader import load_app
from authward.errors import AuthwardError
from authward.runtime import Authward
from authward.settings import Settings, load_settings

console = Console()
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
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
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


@asynccontextmanager
async def open_runtime(app: Path, settings: Settings | None = None) -> AsyncIterator[Authward]:
    config, _ = load_app(app)
    aw = await Authward.open(config, settings or load_settings())
    try:
        yield aw
    finally:
        await aw.close()


def table(*columns: str) -> Table:
    """A table whose cells wrap rather than cut: ids and secrets must stay copyable."""
    t = Table()
    for column in columns:
        t.add_column(column, overflow="fold")
    return t


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
