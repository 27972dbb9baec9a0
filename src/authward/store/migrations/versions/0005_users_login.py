"""Users' login state: the failed-login throttle, and whether an IdP verified the user's email.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "aw_users",
        sa.Column("email_verified", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "aw_login_throttle",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_until", UTCDateTime, nullable=False),
        sa.Column("locked_until", UTCDateTime),
    )
    op.create_index("ix_aw_login_throttle_window_until", "aw_login_throttle", ["window_until"])


def downgrade() -> None:
    op.drop_index("ix_aw_login_throttle_window_until", table_name="aw_login_throttle")
    op.drop_table("aw_login_throttle")
    with op.batch_alter_table("aw_users") as batch:
        batch.drop_column("email_verified")
