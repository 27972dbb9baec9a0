"""Change counters for the token view's tables, and the counter each revocation was written at,
so that a refresh reads only what changed (decision 041).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: The tables whose writers bump their counter (store/changes.py).
COUNTED = ("aw_signing_keys", "aw_machine_users", "aw_oauth2_clients", "aw_revoked_tokens")


def upgrade() -> None:
    changes = op.create_table(
        "aw_changes",
        sa.Column("table_name", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(changes, [{"table_name": name, "version": 0} for name in COUNTED])
    # Revocations made before this migration are read by the first (full) load of each view.
    op.add_column(
        "aw_revoked_tokens",
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_index("ix_aw_revoked_tokens_version", "aw_revoked_tokens", ["version"])


def downgrade() -> None:
    op.drop_index("ix_aw_revoked_tokens_version", table_name="aw_revoked_tokens")
    with op.batch_alter_table("aw_revoked_tokens") as batch:
        batch.drop_column("version")
    op.drop_table("aw_changes")
