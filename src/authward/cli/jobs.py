"""``authward jobs list|test`` and ``authward runs list|show|cancel``.

The jobs are the ones the ``--app`` module defines (its JobClients). ``jobs test`` queues a run;
a running ``authward serve`` or ``authward worker`` executes it (``--wait`` waits for that).
``--json`` prints the same shapes as the management API (``authward.server.jobs_api``).
"""

from __future__ import annotations

__all__ = ["jobs_app", "runs_app"]

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer
from rich.table import Table
from rich.text import Text

from authward.cli.common import AppOption, JsonOption, console, fail, print_json, run
from authward.cli.common import table as make_table
from authward.config.loader import load_app
from authward.jobs.discovery import find_job_clients
from authward.jobs.errors import EventRejected
from authward.jobs.records import FINAL_STATUSES, RunDetail, RunStatus, RunSummary
from authward.server.jobs_api import job_out, run_detail_out, run_out
from authward.server.paging import MAX_LIMIT
from authward.settings import load_settings

if TYPE_CHECKING:
    from authward.runtime import Authward

jobs_app = typer.Typer(help="Jobs the app module defines; test one.", no_args_is_help=True)
runs_app = typer.Typer(help="Job runs: list, show, cancel.", no_args_is_help=True)

STATUSES: tuple[str, ...] = get_args(RunStatus)
_MAX_ACCOUNT_ID = 200


@asynccontextmanager
async def open_jobs(app: Path) -> AsyncIterator[Authward]:
    """The runtime with the app module's JobClients bound (no worker started here)."""
    config, module = load_app(app)
    clients = find_job_clients(module)
    from authward.runtime import Authward

    aw = await Authward.open(config, load_settings(app=app), sync=False)
    try:
        aw.jobs.bind(clients)
        yield aw
    finally:
        await aw.close()


def _when(at: str | None) -> str:
    if at is None:
        return "-"
    parsed = datetime.fromisoformat(at).astimezone(UTC)
    return f"{parsed:%Y-%m-%d %H:%M:%S}Z"


def _duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _offset(start: str, origin: str | None) -> str:
    if origin is None:
        return "-"
    delta = datetime.fromisoformat(start) - datetime.fromisoformat(origin)
    return "+" + _duration(delta.total_seconds() * 1000)


def _add_row(table: Table, *cells: str) -> None:
    # Text, not str: rich would read "[...]" in a payload or an id as markup.
    table.add_row(*(Text(c) for c in cells))


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- jobs -------------------------------------------------------------------------------------


@jobs_app.command("list")
def list_jobs(app_path: AppOption = Path("app.py"), as_json: JsonOption = False) -> None:
    """The jobs the app module defines, with their triggers."""

    async def body() -> list[dict[str, Any]]:
        async with open_jobs(app_path) as aw:
            return [job_out(j).model_dump(mode="json") for j in aw.jobs.list_jobs()]

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"{app_path} defines no jobs", highlight=False)
        return
    table = make_table("id", "name", "version", "trigger", "client")
    for r in rows:
        _add_row(table, r["id"], r["name"], r["version"], r["trigger"], r["client_id"])
    console.print(table)


@jobs_app.command("test")
def start_test_run(
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="The job's id.")],
    payload: Annotated[str, typer.Option("--payload", help="The run's payload, as JSON.")] = "{}",
    account_id: Annotated[
        str | None, typer.Option("--account-id", help="The account the run belongs to.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until a server or worker has finished the run.")
    ] = False,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Start a run of JOB now, whatever its trigger; prints the run id."""
    try:
        value = json.loads(payload)
    except ValueError as exc:
        raise fail(f"--payload is not valid JSON: {exc}") from None
    if account_id is not None and not 0 < len(account_id) <= _MAX_ACCOUNT_ID:
        raise fail(f"--account-id must be 1 to {_MAX_ACCOUNT_ID} characters")

    async def body() -> dict[str, Any]:
        async with open_jobs(app_path) as aw:
            try:
                run_id = await aw.jobs.test_job(job_id, value, account_id=account_id)
            except EventRejected as exc:
                raise EventRejected(f"--payload: {exc}") from None
            found = await (_finished(aw, run_id) if wait else aw.jobs.get_run(run_id))
            assert found is not None  # just written
            return run_detail_out(found).model_dump(mode="json")

    started = run(body())
    if as_json:
        print_json(started if wait else {k: started[k] for k in _SUMMARY_KEYS})
        return
    sys.stdout.write(started["id"] + "\n")
    sys.stdout.flush()
    if wait:
        sys.stderr.write(f"run {started['id']} {started['status']}\n")
    else:
        sys.stderr.write(
            f"run {started['id']} queued: `authward serve` or `authward worker` executes it "
            f"(see `authward runs show {started['id']}`)\n"
        )


_SUMMARY_KEYS = (
    "id",
    "job_id",
    "job_version",
    "status",
    "account_id",
    "invoker",
    "event_name",
    "created_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "attempts",
)


async def _finished(aw: Authward, run_id: str) -> RunDetail | None:
    while True:
        found = await aw.jobs.get_run(run_id)
        if found is None or found.status in FINAL_STATUSES:
            return found
        await asyncio.sleep(0.2)


# -- runs -------------------------------------------------------------------------------------


@runs_app.command("list")
def list_runs(
    account: Annotated[
        str | None, typer.Option("--account", help="Only runs of this account id.")
    ] = None,
    job: Annotated[str | None, typer.Option("--job", help="Only runs of this job id.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"Only runs in this status ({', '.join(STATUSES)})."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Runs, newest first."""
    if status is not None and status not in STATUSES:
        raise fail(f"--status: unknown status {status!r} (known: {', '.join(STATUSES)})")

    async def body() -> list[dict[str, Any]]:
        runs: list[RunSummary] = []
        async with open_jobs(app_path) as aw:
            # Page by page, as the management API would: no statement reads more than a page.
            while len(runs) < limit:
                wanted = min(MAX_LIMIT, limit - len(runs))
                page = await aw.jobs.list_runs(
                    account_id=account,
                    job_id=job,
                    status=status,
                    after=(runs[-1].created_at, runs[-1].id) if runs else None,
                    limit=wanted,
                )
                runs += page
                if len(page) < wanted:
                    break
        return [run_out(r).model_dump(mode="json") for r in runs]

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    table = make_table(
        "run", "job", "status", "account", "invoker", "trigger", "started", "duration"
    )
    for r in rows:
        _add_row(
            table,
            r["id"],
            f"{r['job_id']} {r['job_version']}",
            r["status"],
            r["account_id"] or "-",
            r["invoker"] or "-",
            r["event_name"] or "-",
            _when(r["started_at"]),
            _duration(r["duration_ms"]),
        )
    console.print(table)


@runs_app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run's id (run_...).")],
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """One run: its payload, output or error, tasks and logs."""

    async def body() -> dict[str, Any] | None:
        async with open_jobs(app_path) as aw:
            found = await aw.jobs.get_run(run_id)
        return run_detail_out(found).model_dump(mode="json") if found is not None else None

    detail = run(body())
    if detail is None:
        raise fail(f"no run {run_id!r} (see `authward runs list`)")
    if as_json:
        print_json(detail)
        return
    _print_run(detail)


def _print_run(r: dict[str, Any]) -> None:
    out = console.print
    out(f"run {r['id']}", highlight=False, markup=False)
    fields = [
        ("job", f"{r['job_id']} {r['job_version']}"),
        ("status", r["status"]),
        ("account", r["account_id"] or "-"),
        ("invoker", r["invoker"] or "-"),
        ("trigger", " ".join(x for x in (r["event_name"], r["event_id"]) if x) or "-"),
        ("environment", r["environment"]),
        ("created", _when(r["created_at"])),
        ("started", _when(r["started_at"])),
        ("finished", _when(r["finished_at"])),
        ("duration", _duration(r["duration_ms"])),
        ("attempts", str(r["attempts"])),
    ]
    if r["resume_at"]:
        fields.append(("resumes", _when(r["resume_at"])))
    for name, value in fields:
        out(f"  {name + ':':<13}{value}", highlight=False, markup=False)
    out(f"payload: {_compact(r['payload'])}", highlight=False, markup=False)
    if r["output"] is not None:
        out(f"output: {_compact(r['output'])}", highlight=False, markup=False)
    if r["error"]:
        out(f"error: {r['error']}", highlight=False, markup=False)
    origin = r["started_at"] or r["created_at"]
    if r["tasks"]:
        lineage = any(
            x["integration"] or x["credential_source"] or x["credential_account"]
            for x in r["tasks"]
        )
        columns = ["#", "task", "status", "attempts", "start", "duration", "output / error"]
        tasks = make_table(*columns, *(("integration", "credential") if lineage else ()))
        for x in r["tasks"]:
            length = (
                _duration(
                    (
                        datetime.fromisoformat(x["finished_at"])
                        - datetime.fromisoformat(x["started_at"])
                    ).total_seconds()
                    * 1000
                )
                if x["finished_at"]
                else "-"
            )
            cells = [
                str(x["seq"]),
                x["key"],
                x["status"],
                str(x["attempts"]),
                _offset(x["started_at"], origin),
                length,
                x["error"] or ("" if x["output"] is None else _compact(x["output"])),
            ]
            if lineage:
                cells += [
                    x["integration"] or "-",
                    f"{x['credential_source'] or '-'} {x['credential_account'] or ''}".strip(),
                ]
            _add_row(tasks, *cells)
        out("tasks:")
        out(tasks)
    else:
        out("tasks: none")
    if r["logs"]:
        out("logs:")
        for entry in r["logs"]:
            data = "" if entry["data"] is None else " " + _compact(entry["data"])
            line = f"  {_when(entry['at'])} {entry['level']:<5} {entry['message']}{data}"
            out(line, highlight=False, markup=False, soft_wrap=True)
    else:
        out("logs: none")


@runs_app.command("cancel")
def cancel_run(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run's id (run_...).")],
    app_path: AppOption = Path("app.py"),
) -> None:
    """End a queued, waiting or running run `cancelled`."""

    async def body() -> tuple[bool, str | None]:
        """Whether this call cancelled the run, and the run's status (None: no such run)."""
        async with open_jobs(app_path) as aw:
            cancelled = await aw.jobs.cancel_run(run_id)
            found = await aw.jobs.get_run(run_id)
        return cancelled, found.status if found is not None else None

    cancelled, status = run(body())
    if status is None:
        raise fail(f"no run {run_id!r} (see `authward runs list`)")
    if not cancelled:
        raise fail(f"run {run_id} has already ended ({status})")
    console.print(f"cancelled run {run_id}", highlight=False, markup=False)
