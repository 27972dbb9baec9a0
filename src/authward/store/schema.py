"""authward's own tables (prefixed ``aw_``). Changes here need a migration in ``migrations/``."""

from __future__ import annotations

__all__ = [
    "api_keys",
    "audit_events",
    "grants",
    "instance",
    "machine_users",
    "metadata",
    "oauth2_clients",
    "revoked_tokens",
    "signing_keys",
    "users",
]

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

from authward.store.types import UTCDateTime

metadata = MetaData()

instance = Table(
    "aw_instance",
    metadata,
    Column("id", Integer, primary_key=True),
    # Which instance key sealed this store's secrets (a key id, not the key).
    Column("key_id", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

signing_keys = Table(
    "aw_signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_key", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Set when a newer key takes over signing; the key stays published until publish_until.
    Column("retired_at", UTCDateTime),
    Column("publish_until", UTCDateTime),
)

machine_users = Table(
    "aw_machine_users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("attributes", JSON, nullable=False),
    Column("attribute_list", JSON, nullable=False),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("client_secret", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

oauth2_clients = Table(
    "aw_oauth2_clients",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("client_secret", LargeBinary, nullable=False),
    Column("description", Text, nullable=False),
    Column("redirect_uris", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("access_token_lifetime_seconds", Integer),
    Column("refresh_token_lifetime_seconds", Integer),
    Column("require_dpop", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

users = Table(
    "aw_users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("username", String(320), nullable=False, unique=True),
    # The user's record in the profile's db type (same id space as that table).
    Column("profile_id", Uuid, unique=True),
    Column("password_hash", Text),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

revoked_tokens = Table(
    "aw_revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    # Kept until the token would have expired anyway; then the row can go.
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("revoked_at", UTCDateTime, nullable=False, index=True),
    Column("reason", String(64), nullable=False),
)

grants = Table(
    "aw_grants",
    metadata,
    # Keyed by a digest of the credential (code, refresh token), never the credential itself.
    Column("digest", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("family_id", String(64), nullable=False, index=True),
    Column("client_id", String(64), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

api_keys = Table(
    "aw_api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("hint", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("user_id", String(64)),
    Column("org_id", String(64)),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    # Written in batches, at most once per cache refresh interval (migration 0002).
    Column("last_used_at", UTCDateTime),
    CheckConstraint("(user_id IS NULL) <> (org_id IS NULL)", name="ck_aw_api_keys_one_owner"),
)

audit_events = Table(
    "aw_audit_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("actor", String(200)),
    Column("subject", String(200)),
    Column("client_id", String(64)),
    Column("ip", String(64)),
    Column("detail", JSON, nullable=False),
)
