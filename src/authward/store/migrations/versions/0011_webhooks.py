"""Dynamic triggers: webhook registrations at providers and the deliveries seen (issue 6).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aw_webhook_registrations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("dynamic_trigger_id", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("account_id", sa.String(200)),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("external_id", sa.String(200)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ux_aw_webhook_registrations_key",
        "aw_webhook_registrations",
        ["dynamic_trigger_id", "key"],
        unique=True,
    )
    op.create_table(
        "aw_webhook_deliveries",
        sa.Column(
            "registration_id",
            sa.String(64),
            sa.ForeignKey("aw_webhook_registrations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("delivery_id", sa.String(200), primary_key=True),
        sa.Column("event", sa.String(200), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False, index=True),
        sa.Column("run_ids", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aw_webhook_deliveries")
    op.drop_index("ux_aw_webhook_registrations_key", table_name="aw_webhook_registrations")
    op.drop_table("aw_webhook_registrations")
