"""Authorization server: consents and grant indexes (issue 3, authorization server).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # -- consents (browser side) --
    op.create_table(
        "aw_consents",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aw_consents")
