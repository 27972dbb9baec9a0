"""Declared OAuth clients and machine users remember when they last got a token (in batches).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("aw_oauth2_clients", sa.Column("last_used_at", UTCDateTime))
    op.add_column("aw_machine_users", sa.Column("last_used_at", UTCDateTime))


def downgrade() -> None:
    for table in ("aw_oauth2_clients", "aw_machine_users"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("last_used_at")
