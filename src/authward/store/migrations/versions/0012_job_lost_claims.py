"""Jobs: how many claims of a run in a row ended with its worker gone (AUTHWARD_JOBS_MAX_CLAIMS).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "aw_job_runs",
        sa.Column("lost_claims", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("aw_job_runs") as batch:
        batch.drop_column("lost_claims")
