"""Room for client_id URLs (client ID metadata documents, decision 048): the client_id of grants,
consents and audit events may be up to 255 characters.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_TABLES = {"aw_grants": False, "aw_consents": False, "aw_audit_events": True}


def _resize(old: int, new: int) -> None:
    for table, nullable in _TABLES.items():
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "client_id",
                existing_type=sa.String(old),
                type_=sa.String(new),
                existing_nullable=nullable,
            )


def upgrade() -> None:
    _resize(64, 255)


def downgrade() -> None:
    _resize(255, 64)
