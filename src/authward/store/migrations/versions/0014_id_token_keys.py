"""Signing keys per algorithm: the access-token key is marked, ID-token keys of other
algorithms sit beside it (decision 034).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "aw_signing_keys",
        sa.Column("signs_access", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    with op.batch_alter_table("aw_signing_keys") as batch:
        batch.drop_column("signs_access")
