"""authward's first schema: instance, keys, machine users, clients, users, tokens, audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from authward.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aw_instance",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "aw_signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("private_key", sa.LargeBinary, nullable=False),
        sa.Column("public_jwk", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("retired_at", UTCDateTime),
        sa.Column("publish_until", UTCDateTime),
    )
    op.create_table(
        "aw_machine_users",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("attribute_list", sa.JSON, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("client_secret", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "aw_oauth2_clients",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("client_secret", sa.LargeBinary, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("redirect_uris", sa.JSON, nullable=False),
        sa.Column("grant_types", sa.JSON, nullable=False),
        sa.Column("access_token_lifetime_seconds", sa.Integer),
        sa.Column("refresh_token_lifetime_seconds", sa.Integer),
        sa.Column("require_dpop", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "aw_users",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("username", sa.String(320), nullable=False, unique=True),
        sa.Column("profile_id", sa.Uuid, unique=True),
        sa.Column("password_hash", sa.Text),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "aw_revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
        sa.Column("revoked_at", UTCDateTime, nullable=False, index=True),
        sa.Column("reason", sa.String(64), nullable=False),
    )
    op.create_table(
        "aw_grants",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("family_id", sa.String(64), nullable=False, index=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
    )
    op.create_table(
        "aw_api_keys",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("org_id", sa.String(64)),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (org_id IS NULL)", name="ck_aw_api_keys_one_owner"
        ),
    )
    op.create_table(
        "aw_audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", UTCDateTime, nullable=False, index=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("subject", sa.String(200)),
        sa.Column("client_id", sa.String(64)),
        sa.Column("ip", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "aw_audit_events",
        "aw_api_keys",
        "aw_grants",
        "aw_revoked_tokens",
        "aw_users",
        "aw_oauth2_clients",
        "aw_machine_users",
        "aw_signing_keys",
        "aw_instance",
    ):
        op.drop_table(table)
