"""Jobs on DBOS (decision 046): the engine's own columns and tables go, worker records come.

Leases, lost-claim counts and schedule firing rows were the home-made engine's; DBOS now holds
which process executes a run and each run's progress. A run that was live under the old engine
(queued, running or waiting) is queued again: the first worker of the new release hands it to
DBOS, and it starts from the top, so tasks it had completed run once more. Stop every worker and
let runs finish (or cancel them) before upgrading if that matters.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE aw_job_runs SET status = 'queued', resume_at = NULL "
        "WHERE status IN ('running', 'waiting')"
    )
    op.drop_index("ix_aw_job_runs_status_resume_at", table_name="aw_job_runs")
    with op.batch_alter_table("aw_job_runs") as batch:
        batch.drop_column("lease_owner")
        batch.drop_column("lease_until")
        batch.drop_column("lost_claims")
    op.create_index("ix_aw_job_runs_status_created_at", "aw_job_runs", ["status", "created_at"])
    op.drop_table("aw_job_schedule_firings")
    op.create_table(
        "aw_job_workers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.Column("recovering_by", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("aw_job_workers")
    op.create_table(
        "aw_job_schedule_firings",
        sa.Column("schedule_key", sa.String(500), primary_key=True),
        sa.Column("occurrence", UTCDateTime, primary_key=True),
        sa.Column("fired_at", UTCDateTime, nullable=False),
        sa.Column("run_ids", sa.JSON, nullable=False),
    )
    op.drop_index("ix_aw_job_runs_status_created_at", table_name="aw_job_runs")
    with op.batch_alter_table("aw_job_runs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(64)))
        batch.add_column(sa.Column("lease_until", UTCDateTime))
        batch.add_column(sa.Column("lost_claims", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_aw_job_runs_status_resume_at", "aw_job_runs", ["status", "resume_at"])
