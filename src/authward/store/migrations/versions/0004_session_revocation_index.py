"""Index the sessions' revocation time: every server reads the sessions revoked lately every few
seconds (channel/sessions.py), which must not scan the whole table.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_aw_sessions_revoked_at", "aw_sessions", ["revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_aw_sessions_revoked_at", table_name="aw_sessions")
