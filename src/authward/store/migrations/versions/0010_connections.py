"""The connected-accounts vault: third-party OAuth tokens per account (issue 6).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aw_connections",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("external_id", sa.String(255)),
        sa.Column("label", sa.String(255)),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("token_type", sa.String(32), nullable=False),
        sa.Column("access_token", sa.LargeBinary, nullable=False),
        sa.Column("refresh_token", sa.LargeBinary),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("broken_reason", sa.Text),
        sa.Column("refresh_owner", sa.String(64)),
        sa.Column("refresh_until", UTCDateTime),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ux_aw_connections_owner",
        "aw_connections",
        ["provider", "kind", "account_id"],
        unique=True,
    )
    op.create_index("ix_aw_connections_account_id", "aw_connections", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_aw_connections_account_id", table_name="aw_connections")
    op.drop_index("ux_aw_connections_owner", table_name="aw_connections")
    op.drop_table("aw_connections")
