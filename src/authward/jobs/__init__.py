"""Jobs whose runs carry an account id and act as a principal (docs/jobs.md).

client = JobClient(id="my-app", config=config)

@client.job(id="post-created", name="Post created", version="1.0.0",
            trigger=event_trigger(name="post.created", schema=PostCreated))
async def post_created(payload, io, ctx): ...
"""

from authward.connections.values import Credentials
from authward.jobs.client import Job, JobClient
from authward.jobs.context import Account, EventRef, JobRef, RunContext
from authward.jobs.credentials import AuthResolverResult
from authward.jobs.discovery import find_job_clients
from authward.jobs.dynamic import DynamicSchedule
from authward.jobs.errors import (
    EventRejected,
    JobsError,
    JobsNotBound,
    TaskFailed,
    TaskKeyReused,
    TaskOutputError,
    UnknownJob,
    UnresolvedAuthError,
)
from authward.jobs.io import Integration, Io
from authward.jobs.ports import JobPorts, JobSettings
from authward.jobs.records import (
    JobInfo,
    LogRecord,
    RunDetail,
    RunSummary,
    ScheduleInfo,
    SentEvent,
    TaskRecord,
)
from authward.jobs.retry import RetryPolicy
from authward.jobs.runtime import JobsRuntime
from authward.jobs.triggers import cron_trigger, event_trigger, interval_trigger

__all__ = [
    "Account",
    "AuthResolverResult",
    "Credentials",
    "DynamicSchedule",
    "EventRef",
    "EventRejected",
    "Integration",
    "Io",
    "Job",
    "JobClient",
    "JobInfo",
    "JobPorts",
    "JobRef",
    "JobSettings",
    "JobsError",
    "JobsNotBound",
    "JobsRuntime",
    "LogRecord",
    "RetryPolicy",
    "RunContext",
    "RunDetail",
    "RunSummary",
    "ScheduleInfo",
    "SentEvent",
    "TaskFailed",
    "TaskKeyReused",
    "TaskOutputError",
    "TaskRecord",
    "UnknownJob",
    "UnresolvedAuthError",
    "cron_trigger",
    "event_trigger",
    "find_job_clients",
    "interval_trigger",
]
