"""authward's own tables (prefixed ``aw_``), but the job system's (``schema/jobs.py``). Changes
here need a migration in ``migrations/``."""

from __future__ import annotations

__all__ = [
    "api_keys",
    "audit_events",
    "changes",
    "connections",
    "consents",
    "dpop_proofs",
    "external_identities",
    "grants",
    "instance",
    "login_throttle",
    "m2m_tokens",
    "machine_users",
    "machines",
    "memberships",
    "metadata",
    "oauth2_clients",
    "organizations",
    "registered_clients",
    "revoked_tokens",
    "sessions",
    "signing_keys",
    "users",
]

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    false,
    true,
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
    # The issuer `authward serve` derived from its address when AUTHWARD_ISSUER is unset, so
    # that the other commands sign and verify for the server that runs (decision 033).
    Column("issuer", String(2048), nullable=True),
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
    # The key signs access and session tokens (and ID tokens of its alg); otherwise it signs
    # only ID tokens of its alg (decision 034). Keys from before 0014 all signed access tokens.
    Column("signs_access", Boolean, nullable=False, server_default=true()),
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
    Column("last_used_at", UTCDateTime),
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
    Column("last_used_at", UTCDateTime),
)

registered_clients = Table(
    "aw_registered_clients",
    metadata,
    # Clients that registered themselves (RFC 7591, decision 049); never touched by config sync.
    Column("client_id", String(64), primary_key=True),
    # SHA-256 of the client secret (hex), shown once at registration; none for a public client.
    Column("secret_sha256", String(64)),
    Column("token_endpoint_auth_method", String(32), nullable=False),
    Column("application_type", String(16), nullable=False),
    Column("redirect_uris", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("response_types", JSON, nullable=False),
    Column("client_name", String(200)),
    Column("logo_uri", String(2048)),
    Column("client_uri", String(2048)),
    Column("scope", String(1024)),
    Column("created_at", UTCDateTime, nullable=False),
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
    # Set only by an external IdP that vouched for the address (migration 0005).
    Column("email_verified", Boolean, nullable=False, server_default=false()),
)

external_identities = Table(
    "aw_external_identities",
    metadata,
    # One upstream account (the provider's name in the config, its `sub`) signs in as one user.
    Column("provider", String(64), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column(
        "user_id",
        Uuid,
        ForeignKey("aw_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # The upstream email when the link was made (what linking by verified email relied on).
    Column("email", String(320)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime, nullable=False),
)

login_throttle = Table(
    "aw_login_throttle",
    metadata,
    # SHA-256 of scope and value: a mistyped username may be a password, so it is never stored.
    Column("key", String(64), primary_key=True),
    Column("scope", String(16), nullable=False),
    Column("failures", Integer, nullable=False),
    # The count is forgotten after this; indexed so expired rows are pruned cheaply.
    Column("window_until", UTCDateTime, nullable=False, index=True),
    Column("locked_until", UTCDateTime),
)

revoked_tokens = Table(
    "aw_revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    # Kept until the token would have expired anyway; then the row can go.
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("revoked_at", UTCDateTime, nullable=False, index=True),
    Column("reason", String(64), nullable=False),
    # The aw_revoked_tokens counter of aw_changes when the row was written (migration 0015).
    Column("version", BigInteger, nullable=False, server_default="0", index=True),
)

changes = Table(
    "aw_changes",
    metadata,
    # A table the token view reads, and a counter its writers bump in the writing transaction
    # (store/changes.py, decision 041).
    Column("table_name", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

grants = Table(
    "aw_grants",
    metadata,
    # Keyed by a digest of the credential (code, refresh token), never the credential itself.
    Column("digest", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("family_id", String(64), nullable=False, index=True),
    Column("client_id", String(255), nullable=False),
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
    Column("client_id", String(255)),
    Column("ip", String(64)),
    Column("detail", JSON, nullable=False),
)


consents = Table(
    "aw_consents",
    metadata,
    # What a user allowed an OAuth client (migration 0006); a request for more scopes asks again.
    Column("user_id", String(64), primary_key=True),
    Column("client_id", String(255), primary_key=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


organizations = Table(
    "aw_organizations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

memberships = Table(
    "aw_memberships",
    metadata,
    Column(
        "org_id",
        String(64),
        ForeignKey("aw_organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", String(64), primary_key=True),
    # A role named in define_auth(organization_roles=...); its permissions come from the config.
    Column("role", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_aw_memberships_user_id", "user_id"),
)

sessions = Table(
    "aw_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    # Digest of the session secret carried by the __session cookie; never the secret itself.
    Column("digest", String(64), nullable=False, unique=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("active_org_id", String(64)),
    Column("claims", JSON, nullable=False),
    Column("ip", String(64)),
    Column("user_agent", String(400)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_active_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # Indexed: every server reads the sessions revoked lately (migration 0004).
    Column("revoked_at", UTCDateTime, index=True),
)

machines = Table(
    "aw_machines",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    # Digest of the machine secret key a receiving service verifies M2M tokens with.
    Column("secret_digest", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

m2m_tokens = Table(
    "aw_m2m_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("hint", String(16), nullable=False),
    # The machine user the token acts as.
    Column("subject", String(64), nullable=False, index=True),
    # Ids of the machines the token may be presented to.
    Column("audience", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

dpop_proofs = Table(
    "aw_dpop_proofs",
    metadata,
    # SHA-256 of the proof's key thumbprint and jti (oauth/dpop.py): the replay cache.
    Column("digest", String(64), primary_key=True),
    # The proof's iat plus its acceptance window; indexed so expired rows are swept cheaply.
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)


connections = Table(
    "aw_connections",
    metadata,
    # The connected-accounts vault (issue 6): third-party OAuth tokens an account (or the developer,
    # kind "developer" with an empty account_id) allowed us to use, sealed with the instance key.
    Column("id", String(64), primary_key=True),
    Column("provider", String(64), nullable=False),
    # account | developer
    Column("kind", String(16), nullable=False),
    Column("account_id", String(200), nullable=False),
    # Who the account is at the provider (its user id), and a label for people.
    Column("external_id", String(255)),
    Column("label", String(255)),
    Column("scopes", Text, nullable=False),
    Column("token_type", String(32), nullable=False),
    Column("access_token", LargeBinary, nullable=False),
    Column("refresh_token", LargeBinary),
    Column("expires_at", UTCDateTime),
    # active | broken (the provider refused the token or the refresh token: reconnect)
    Column("status", String(16), nullable=False),
    Column("broken_reason", Text),
    # One refresh in flight per connection across processes: whoever sets the lease refreshes.
    Column("refresh_owner", String(64)),
    Column("refresh_until", UTCDateTime),
    # Bumped on every token change, so a process waiting on another's refresh sees it land.
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ux_aw_connections_owner", "provider", "kind", "account_id", unique=True),
    Index("ix_aw_connections_account_id", "account_id"),
)
