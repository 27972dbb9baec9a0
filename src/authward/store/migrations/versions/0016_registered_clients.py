"""Clients registered through RFC 7591 dynamic registration, and their change counter (decision
049): the token view reads their ids as it reads the config's clients.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aw_registered_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("secret_sha256", sa.String(64)),
        sa.Column("token_endpoint_auth_method", sa.String(32), nullable=False),
        sa.Column("application_type", sa.String(16), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("response_types", sa.JSON(), nullable=False),
        sa.Column("client_name", sa.String(200)),
        sa.Column("logo_uri", sa.String(2048)),
        sa.Column("client_uri", sa.String(2048)),
        sa.Column("scope", sa.String(1024)),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    changes = sa.table("aw_changes", sa.column("table_name"), sa.column("version"))
    op.bulk_insert(changes, [{"table_name": "aw_registered_clients", "version": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM aw_changes WHERE table_name = 'aw_registered_clients'")
    op.drop_table("aw_registered_clients")
