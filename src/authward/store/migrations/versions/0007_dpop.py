"""DPoP proof replay cache shared by all server processes (issue 3, DPoP).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aw_dpop_proofs",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("aw_dpop_proofs")
