"""Jobs: runs, tasks, run logs, events, schedules and schedule firings (issue 5).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aw_job_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(200), nullable=False, index=True),
        sa.Column("job_version", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON),
        sa.Column("output", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("account_id", sa.String(200), index=True),
        sa.Column("invoker", sa.String(300)),
        sa.Column("principal", sa.JSON),
        sa.Column("event_id", sa.String(200), index=True),
        sa.Column("event_name", sa.String(200)),
        sa.Column("event_timestamp", UTCDateTime),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False, index=True),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("resume_at", UTCDateTime),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", UTCDateTime),
        sa.Index("ix_aw_job_runs_status_resume_at", "status", "resume_at"),
    )
    op.create_table(
        "aw_job_tasks",
        sa.Column(
            "run_id",
            sa.String(64),
            sa.ForeignKey("aw_job_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("output", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("resume_at", UTCDateTime),
        sa.Column("integration", sa.String(200)),
        sa.Column("credential_source", sa.String(32)),
        sa.Column("credential_account", sa.String(200)),
    )
    op.create_table(
        "aw_job_run_logs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "run_id",
            sa.String(64),
            sa.ForeignKey("aw_job_runs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data", sa.JSON),
    )
    op.create_table(
        "aw_job_events",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("payload", sa.JSON),
        sa.Column("account_id", sa.String(200)),
        sa.Column("timestamp", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "aw_job_schedules",
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("job_id", sa.String(200)),
        sa.Column("dynamic_schedule_id", sa.String(200)),
        sa.Column("schedule_id", sa.String(200)),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("account_id", sa.String(200)),
        sa.Column("anchor_at", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("next_at", UTCDateTime, nullable=False, index=True),
    )
    op.create_table(
        "aw_job_schedule_firings",
        sa.Column("schedule_key", sa.String(500), primary_key=True),
        sa.Column("occurrence", UTCDateTime, primary_key=True),
        sa.Column("fired_at", UTCDateTime, nullable=False),
        sa.Column("run_ids", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "aw_job_schedule_firings",
        "aw_job_schedules",
        "aw_job_events",
        "aw_job_run_logs",
        "aw_job_tasks",
        "aw_job_runs",
    ):
        op.drop_table(table)
