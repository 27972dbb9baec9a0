"""A run keeps the W3C trace context of the span that queued it (decision 053, amended).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("aw_job_runs", sa.Column("traceparent", sa.String(55)))
    op.add_column("aw_job_runs", sa.Column("tracestate", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("aw_job_runs") as batch:
        batch.drop_column("tracestate")
        batch.drop_column("traceparent")
