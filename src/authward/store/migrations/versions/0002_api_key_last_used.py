"""API keys remember when they were last used (written in batches, not per request).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("aw_api_keys", sa.Column("last_used_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("aw_api_keys") as batch:
        batch.drop_column("last_used_at")
