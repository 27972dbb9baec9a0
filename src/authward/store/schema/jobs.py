"""The job system's tables (issue 5, migration 0009 and later): the run index, tasks and logs,
events, schedule registrations, webhook registrations and deliveries, and the workers' liveness
records. Execution state is the engine's (DBOS, decision 046). Changes here need a migration."""

from __future__ import annotations

__all__ = [
    "job_events",
    "job_run_logs",
    "job_runs",
    "job_schedules",
    "job_tasks",
    "job_workers",
    "webhook_deliveries",
    "webhook_registrations",
]

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from authward.store.schema.core import metadata
from authward.store.types import UTCDateTime

# Jobs (issue 5, migration 0009): runs, their tasks and logs, events, schedules and firings.
job_runs = Table(
    "aw_job_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("job_id", String(200), nullable=False, index=True),
    Column("job_version", String(64), nullable=False),
    Column("client_id", String(200), nullable=False),
    # queued | running | waiting | succeeded | failed | cancelled | timed_out
    Column("status", String(16), nullable=False),
    Column("payload", JSON),
    Column("output", JSON),
    Column("error", Text),
    Column("account_id", String(200), index=True),
    # Who the run acts as, for people ("machine-user:NAME", "user:SUBJECT"), and the principal
    # itself as it was when the run was triggered (restored on every resume).
    Column("invoker", String(300)),
    Column("principal", JSON),
    Column("event_id", String(200), index=True),
    Column("event_name", String(200)),
    Column("event_timestamp", UTCDateTime),
    Column("environment", String(64), nullable=False),
    # Executions of the run: the first, and one more each time it is recovered after its
    # worker went away. Past AUTHWARD_JOBS_MAX_CLAIMS the run fails instead.
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    # A waiting run is due again at resume_at (io.wait, task retry backoff).
    Column("resume_at", UTCDateTime),
    # The W3C trace context of the span that queued the run (migration 0020): every execution
    # of it, in whichever process, is that span's child. Null when no span was recording.
    Column("traceparent", String(55)),
    Column("tracestate", Text),
    Index("ix_aw_job_runs_status_created_at", "status", "created_at"),
)

job_tasks = Table(
    "aw_job_tasks",
    metadata,
    Column(
        "run_id", String(64), ForeignKey("aw_job_runs.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("key", String(200), primary_key=True),
    # Order of first execution within the run (the timeline).
    Column("seq", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    # running | waiting | succeeded | failed
    Column("status", String(16), nullable=False),
    Column("output", JSON),
    Column("error", Text),
    Column("attempts", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("resume_at", UTCDateTime),
    # Credential lineage of integration tasks (issue 6): never the credential itself.
    Column("integration", String(200)),
    Column("credential_source", String(32)),
    Column("credential_account", String(200)),
)

job_run_logs = Table(
    "aw_job_run_logs",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column(
        "run_id",
        String(64),
        ForeignKey("aw_job_runs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("level", String(8), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", JSON),
)

job_events = Table(
    "aw_job_events",
    metadata,
    # The sender's event id (or a generated one): a second event with the same id starts nothing.
    Column("id", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("payload", JSON),
    Column("account_id", String(200)),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

job_schedules = Table(
    "aw_job_schedules",
    metadata,
    # "job:<job id>" for a job's own interval/cron trigger, "dyn:<dynamic id>:<schedule id>" for a
    # registration on a dynamic schedule.
    Column("key", String(500), primary_key=True),
    Column("client_id", String(200), nullable=False),
    Column("job_id", String(200)),
    Column("dynamic_schedule_id", String(200)),
    Column("schedule_id", String(200)),
    # interval | cron
    Column("type", String(16), nullable=False),
    Column("options", JSON, nullable=False),
    Column("account_id", String(200)),
    # Interval occurrences count from here; (re-)registering starts a new count.
    Column("anchor_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("next_at", UTCDateTime, nullable=False, index=True),
)

job_workers = Table(
    "aw_job_workers",
    metadata,
    # One row per worker (its DBOS executor id) while it runs: a worker whose heartbeat stops
    # has its pending runs recovered by exactly one other (jobs/liveness.py, decision 046).
    Column("id", String(200), primary_key=True),
    # Which start of that worker holds the row (a random id per process start).
    Column("instance", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    # The worker recovering this one's runs, while it does.
    Column("recovering_by", String(200)),
)


webhook_registrations = Table(
    "aw_webhook_registrations",
    metadata,
    # A dynamic trigger's registration (issue 6): the webhook created at the provider for one key.
    # Its id is the path of the URL the provider delivers to (/webhooks/<id>).
    Column("id", String(64), primary_key=True),
    Column("client_id", String(200), nullable=False),
    Column("dynamic_trigger_id", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("params", JSON, nullable=False),
    Column("account_id", String(200)),
    # The per-registration HMAC secret, sealed; the provider signs deliveries with it.
    Column("secret", LargeBinary, nullable=False),
    # The webhook's id at the provider (to delete it on unregister).
    Column("external_id", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ux_aw_webhook_registrations_key", "dynamic_trigger_id", "key", unique=True),
)

webhook_deliveries = Table(
    "aw_webhook_deliveries",
    metadata,
    # One row per delivery id: a redelivered webhook starts nothing the second time.
    Column(
        "registration_id",
        String(64),
        ForeignKey("aw_webhook_registrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("delivery_id", String(200), primary_key=True),
    Column("event", String(200), nullable=False),
    Column("received_at", UTCDateTime, nullable=False, index=True),
    Column("run_ids", JSON, nullable=False),
)
