"""What the runtime hands out: frozen records for the dashboard, the CLI and the management API."""

from __future__ import annotations

__all__ = [
    "FINAL_STATUSES",
    "LIVE_STATUSES",
    "ClaimedRun",
    "JobInfo",
    "LogRecord",
    "NewRun",
    "RunDetail",
    "RunStatus",
    "RunSummary",
    "ScheduleInfo",
    "SentEvent",
    "TaskRecord",
]

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

RunStatus = Literal["queued", "running", "waiting", "succeeded", "failed", "cancelled", "timed_out"]
LIVE_STATUSES: tuple[RunStatus, ...] = ("queued", "running", "waiting")
FINAL_STATUSES: tuple[RunStatus, ...] = ("succeeded", "failed", "cancelled", "timed_out")


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    name: str
    version: str
    client_id: str
    #: "event post.created", "interval 60s", "cron 0 * * * * (UTC)", "dynamic schedule my-schedule"
    trigger: str
    event_name: str | None


@dataclass(frozen=True, slots=True)
class SentEvent:
    id: str
    name: str
    run_ids: tuple[str, ...]
    #: True when this event id had been sent before: nothing new was started.
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: str
    job_id: str
    job_version: str
    status: RunStatus
    account_id: str | None
    invoker: str | None
    event_name: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    attempts: int


@dataclass(frozen=True, slots=True)
class TaskRecord:
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


@dataclass(frozen=True, slots=True)
class LogRecord:
    at: datetime
    level: str
    message: str
    data: Any


@dataclass(frozen=True, slots=True)
class RunDetail(RunSummary):
    payload: Any
    output: Any
    error: str | None
    event_id: str | None
    event_timestamp: datetime | None
    environment: str
    resume_at: datetime | None
    tasks: list[TaskRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    key: str
    client_id: str
    job_id: str | None
    dynamic_schedule_id: str | None
    schedule_id: str | None
    type: str
    options: dict[str, Any]
    account_id: str | None
    next_at: datetime


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run about to be queued (written by the store in the same transaction as its cause)."""

    id: str
    job_id: str
    job_version: str
    client_id: str
    payload: Any
    account_id: str | None
    invoker: str | None
    principal: dict[str, Any] | None
    event_id: str | None
    event_name: str
    event_timestamp: datetime
    environment: str
    created_at: datetime
    #: The W3C trace context of the span that queued the run, if one was recording.
    traceparent: str | None
    tracestate: str | None


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run as an execution of it starts (``RunStore.start``)."""

    id: str
    job_id: str
    job_version: str
    payload: Any
    account_id: str | None
    principal: dict[str, Any] | None
    event_id: str | None
    event_name: str | None
    event_timestamp: datetime | None
    environment: str
    attempts: int
    traceparent: str | None
    tracestate: str | None
