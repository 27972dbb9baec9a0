"""Links between local users and external identity-provider subjects (issue 3, external IdP).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aw_external_identities",
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column(
            "user_id",
            sa.Uuid,
            sa.ForeignKey("aw_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("email", sa.String(320)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_login_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_aw_external_identities_user_id", "aw_external_identities", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_aw_external_identities_user_id", table_name="aw_external_identities")
    op.drop_table("aw_external_identities")
