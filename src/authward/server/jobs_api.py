"""Jobs in the management API (``/v1/jobs``, ``/v1/runs``), and the JSON shape of jobs and runs
that the API and ``authward jobs|runs --json`` both print (one set of models, so the two agree).

Mounted by :func:`authward.server.management.management_app`, behind the same admin check.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.

__all__ = [
    "JobOut",
    "JobsAdmin",
    "RunDetailOut",
    "RunOut",
    "job_out",
    "jobs_router",
    "run_detail_out",
    "run_out",
    "run_position",
]

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Query, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from authward.jobs.errors import EventRejected, UnknownJob
from authward.jobs.records import JobInfo, RunDetail, RunStatus, RunSummary
from authward.principal import Principal
from authward.server.api_inputs import BodyText, PathText, QueryText
from authward.server.management_errors import error_responses
from authward.server.management_models import fill
from authward.server.paging import (
    Cursor,
    Key,
    Limit,
    Page,
    after_timed,
    page_of,
    read_page,
    time_key,
)


class JobsAdmin(Protocol):
    """What the routes call of :class:`authward.jobs.JobsRuntime`."""

    def list_jobs(self) -> list[JobInfo]: ...
    async def list_runs(
        self,
        *,
        account_id: str | None = None,
        job_id: str | None = None,
        status: str | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[RunSummary]: ...
    async def get_run(self, run_id: str) -> RunDetail | None: ...
    async def test_job(
        self, job_id: str, payload: Any, *, account_id: str | None = None
    ) -> str: ...
    async def cancel_run(self, run_id: str) -> bool: ...


class JobOut(BaseModel):
    id: str
    name: str
    version: str
    client_id: str
    trigger: str = Field(description='e.g. "event post.created", "interval 60s"')
    event_name: str | None


class RunOut(BaseModel):
    id: str
    job_id: str
    job_version: str
    status: RunStatus
    account_id: str | None
    invoker: str | None = Field(description='who the run acts as, e.g. "machine-user:admin"')
    event_name: str | None = Field(description="the event, or invoke, schedule, test")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    attempts: int


class TaskOut(BaseModel):
    key: str
    name: str
    seq: int
    status: str
    output: Any
    error: str | None
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    resume_at: datetime | None
    integration: str | None
    credential_source: str | None
    credential_account: str | None


class LogOut(BaseModel):
    at: datetime
    level: str
    message: str
    data: Any


class RunDetailOut(RunOut):
    payload: Any
    output: Any
    error: str | None
    event_id: str | None
    event_timestamp: datetime | None
    environment: str
    resume_at: datetime | None
    tasks: list[TaskOut]
    logs: list[LogOut]


class TestRunIn(BaseModel):
    payload: Any = Field(default=None, description="the run's payload (checked like an event's)")
    account_id: BodyText | None = Field(default=None, min_length=1, max_length=200)


def job_out(job: JobInfo) -> JobOut:
    return fill(JobOut, job)


def run_out(run: RunSummary) -> RunOut:
    return fill(RunOut, run)


def run_detail_out(run: RunDetail) -> RunDetailOut:
    return fill(
        RunDetailOut,
        run,
        tasks=[fill(TaskOut, task) for task in run.tasks],
        logs=[fill(LogOut, entry) for entry in run.logs],
    )


def run_position(run: RunSummary) -> Key:
    """A run's place in the list of runs (newest first), as its cursor holds it."""
    return (time_key(run.created_at), run.id)


def _refusal(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)


def _no_run(run_id: str) -> JSONResponse:
    return _refusal(404, "not_found", f"no run {run_id!r}")


def jobs_router(jobs: JobsAdmin, admin: Callable[..., Awaitable[Principal]]) -> APIRouter:
    """The jobs routes; ``admin`` is the management API's dependency that lets only its
    machine users through. ``jobs`` lists the app's jobs per request: serve binds the app's
    clients to it after the app is built."""
    Admin = Annotated[Principal, Security(admin)]
    router = APIRouter(tags=["jobs"])

    @router.get("/jobs", response_model=Page[JobOut], responses=error_responses(400))
    async def list_jobs(_: Admin, limit: Limit = 50, cursor: Cursor = None) -> Page[JobOut]:
        """The jobs the app module defines, by client and id."""
        items, following = page_of(
            "jobs",
            jobs.list_jobs(),
            key=lambda j: (j.client_id, j.id),
            cursor=cursor,
            limit=limit,
            types=[str, str],
        )
        return Page(items=[job_out(j) for j in items], next_cursor=following)

    @router.get("/runs", response_model=Page[RunOut], responses=error_responses(400))
    async def list_runs(
        _: Admin,
        account_id: QueryText = None,
        job_id: QueryText = None,
        status: Annotated[RunStatus | None, Query()] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[RunOut]:
        """Runs, newest first, filtered by account id, job and status."""
        runs = await jobs.list_runs(
            account_id=account_id,
            job_id=job_id,
            status=status,
            after=after_timed("runs", cursor, str),
            limit=limit + 1,
        )
        return read_page("runs", runs, limit, run_position, run_out)

    @router.get("/runs/{run_id}", response_model=RunDetailOut, responses=error_responses(404))
    async def get_run(run_id: PathText, _: Admin) -> RunDetailOut | JSONResponse:
        """One run with its payload, output, tasks (in order) and logs."""
        run = await jobs.get_run(run_id)
        return run_detail_out(run) if run is not None else _no_run(run_id)

    @router.post(
        "/jobs/{job_id}/test",
        status_code=201,
        response_model=RunOut,
        responses=error_responses(400, 404),
    )
    async def start_test_run(job_id: PathText, body: TestRunIn, _: Admin) -> RunOut | JSONResponse:
        """Start a run of the job now, whatever its trigger, acting as the calling machine user
        and carrying ``account_id``. A payload its event schema refuses is 400 with ``errors``."""
        try:
            run_id = await jobs.test_job(job_id, body.payload, account_id=body.account_id)
        except UnknownJob as exc:
            return _refusal(404, "not_found", str(exc))
        except EventRejected as exc:
            return _refusal(400, "invalid_request", str(exc), errors=exc.errors)
        run = await jobs.get_run(run_id)
        assert run is not None  # just written
        return run_out(run)

    @router.post(
        "/runs/{run_id}/cancel", response_model=RunOut, responses=error_responses(404, 409)
    )
    async def cancel_run(run_id: PathText, _: Admin) -> RunOut | JSONResponse:
        """End a queued, waiting or running run ``cancelled``; 409 when it had already ended."""
        cancelled = await jobs.cancel_run(run_id)
        run = await jobs.get_run(run_id)
        if run is None:
            return _no_run(run_id)
        if not cancelled:
            return _refusal(409, "conflict", f"run {run_id!r} has already ended ({run.status})")
        return run_out(run)

    return router
