"""The issuer `authward serve` last derived from the address it listens on (decision 033).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("aw_instance", sa.Column("issuer", sa.String(2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("aw_instance") as batch:
        batch.drop_column("issuer")
