"""API keys: opaque, prefixed secrets owned by a user or an organization, shown once.

Format: ``ak_`` + 43 base62 characters (32 random bytes, 256 bits) + a 6-character base62
checksum (CRC32 of everything before it), 52 characters in all. A mistyped, truncated or
bit-flipped key fails the checksum and is refused as ``api-key-malformed`` before any lookup.

An organization's key needs the organization to exist (given by id or slug; the key records its
id, ``org_...``), and deleting the organization revokes its keys (``Organizations.delete`` calls
:meth:`ApiKeys.revoke_org_keys` in its transaction).

At rest only the SHA-256 digest (hex) is stored, with a ``hint`` (the key's last 4 characters)
for people to recognise it by. The secret itself is returned once, by :meth:`ApiKeys.create`.

Verification looks the digest up and keeps a bounded in-memory cache of the keys it accepted, so
verifying a hot key does no I/O. A cached entry older than ``AUTHWARD_CACHE_REFRESH_SECONDS`` is
re-read from the store on its next use. Hence:

- a key revoked through *this* process (:meth:`ApiKeys.revoke`) is refused at once;
- a key revoked by *another* process is refused here within ``cache_refresh_seconds`` (2 s by
  default), or at once after :meth:`ApiKeys.invalidate`;
- expiry is checked on every verification, cached or not.

``last_used_at`` is not written per request: uses are recorded in memory and written in one
batch at most once per ``cache_refresh_seconds`` (piggy-backed on a store read verification does
anyway), by :meth:`ApiKeys.flush`, and when the runtime closes.

Refusals raise :class:`~authward.errors.TokenError` with a stable ``reason``: ``api-key-malformed``,
``api-key-invalid`` (unknown), ``api-key-revoked`` or ``api-key-expired``.
"""

from __future__ import annotations

__all__ = [
    "API_KEY_PREFIX",
    "ApiKeyAuth",
    "ApiKeyInfo",
    "ApiKeys",
    "generate_api_key",
    "is_well_formed",
]

import builtins
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from uuid import UUID, uuid4

from authward.errors import ConfigError, TokenError, TooManyFailures
from authward.identity.api_key_ports import ApiKeyStorePort, FailureLimiter
from authward.identity.machines import checked_scopes
from authward.identity.secret_cache import Found, Refusals, SecretCache
from authward.principal import BuildsPrincipal, Principal
from authward.store.audit import AuditEvent
from authward.tokens import opaque
from authward.uses import UseRecorder

if TYPE_CHECKING:
    from authward.store.api_keys import Transaction

log = logging.getLogger("authward.api_keys")

API_KEY_PREFIX = "ak_"
_MAX_OWNER = 64
_MAX_NAME = 200


def generate_api_key() -> str:
    """A fresh key in the authward format (nothing is stored)."""
    return opaque.generate(API_KEY_PREFIX)


def is_well_formed(secret: str) -> bool:
    """Prefix, length, alphabet and checksum: everything that can be checked without a lookup."""
    return opaque.is_well_formed(secret, API_KEY_PREFIX)


@dataclass(frozen=True, slots=True)
class ApiKeyAuth(BuildsPrincipal):
    """A verified API key: what it may do and on whose behalf."""

    key_id: UUID
    name: str
    user_id: str | None
    org_id: str | None
    scopes: tuple[str, ...]
    expires_at: datetime | None
    token_type: Literal["api_key"] = "api_key"  # noqa: S105 - a token kind, not a secret
    # Built once per verified key: a cached key hands out the same (immutable) Principal.
    _principal: Principal | None = field(default=None, init=False, repr=False, compare=False)

    def _build_principal(self) -> Principal:
        attributes: dict[str, Any] = {"tokenType": self.token_type, "scopes": tuple(self.scopes)}
        if self.user_id is not None:
            attributes["userId"] = self.user_id
        if self.org_id is not None:
            attributes["orgId"] = self.org_id
        owner = self.user_id if self.user_id is not None else self.org_id
        assert owner is not None
        return Principal(
            authenticator="authward",
            principal_type="machine",
            principal_id=str(self.key_id),
            subject=owner,
            attributes=attributes,
        )


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A stored key as listings show it: never the secret, only its hint."""

    id: UUID
    name: str
    hint: str
    user_id: str | None
    org_id: str | None
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def status(self, now: datetime | None = None) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"


_REFUSALS = Refusals(
    unknown=("api-key-invalid", "unknown API key"),
    revoked=("api-key-revoked", "API key has been revoked"),
    expired=("api-key-expired", "API key has expired"),
)


def _auth(row: Any) -> ApiKeyAuth:
    return ApiKeyAuth(
        key_id=row.id,
        name=row.name,
        user_id=row.user_id,
        org_id=row.org_id,
        scopes=tuple(row.scopes),
        expires_at=row.expires_at,
    )


def _info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        name=row.name,
        hint=row.hint,
        user_id=row.user_id,
        org_id=row.org_id,
        scopes=tuple(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _key_id(value: UUID | str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except ValueError:
        raise ConfigError(f"{value!r} is not an API key id (a UUID)", path="key_id") from None


def _owner(label: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not value or value != value.strip() or len(value) > _MAX_OWNER:
        raise ConfigError(
            f"must be a non-empty id of at most {_MAX_OWNER} characters without surrounding spaces",
            path=label,
        )
    return value


def _name(name: str) -> str:
    if not name.strip() or len(name) > _MAX_NAME or not name.isprintable():
        raise ConfigError(f"must be 1 to {_MAX_NAME} printable characters on one line", path="name")
    return name


def _unknown_org(org: str) -> NoReturn:
    raise ConfigError(
        f"no organization {org!r} (give an existing organization's id or slug; create it "
        "with `authward org create` or POST /v1/organizations)",
        path="org_id",
    )


class ApiKeys:
    """Create, list, revoke and verify API keys (``Authward.api_keys``)."""

    def __init__(
        self,
        store: ApiKeyStorePort,
        *,
        refresh_seconds: float,
        failures: FailureLimiter | None = None,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``refresh_seconds``: how long a verified key is trusted before it is read again
        (``AUTHWARD_CACHE_REFRESH_SECONDS``), and how often uses are written. ``failures``
        counts refused keys per address (decision 037)."""
        self._store = store
        self._failures = failures
        self._clock = clock
        self._cache: SecretCache[ApiKeyAuth] = SecretCache(
            _REFUSALS,
            self._read,
            what="an API key",
            max_entries=max_cached,
            refresh_seconds=refresh_seconds,
            clock=clock,
        )
        self._uses: UseRecorder[UUID] = UseRecorder(
            store.record_uses, interval=refresh_seconds, what="API key", clock=clock
        )

    # -- management -----------------------------------------------------------------------------

    async def create(
        self,
        name: str,
        *,
        user_id: str | None = None,
        org_id: str | None = None,
        scopes: Iterable[str] = (),
        expires_at: datetime | None = None,
        actor: str | None = None,
    ) -> tuple[str, ApiKeyAuth]:
        """A new key for exactly one owner: a user (any id of yours) or an existing organization
        (its id or slug; the key records the id). Returns the secret (shown once, never stored)
        and what it verifies as."""
        name = _name(name)
        user_id, org_id = _owner("user_id", user_id), _owner("org_id", org_id)
        if (user_id is None) == (org_id is None):
            raise ConfigError(
                "an API key belongs to exactly one owner: give user_id or org_id, not "
                + ("both" if user_id is not None else "neither"),
                path="owner",
            )
        scope_list = checked_scopes(scopes)
        now = datetime.now(UTC)
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ConfigError("must be timezone-aware", path="expires_at")
            if expires_at <= now:
                raise ConfigError("must be in the future", path="expires_at")
        secret = generate_api_key()
        key_id = uuid4()
        expires = expires_at.astimezone(UTC) if expires_at is not None else None
        hint = opaque.hint(secret)
        row = {
            "id": key_id,
            "digest": opaque.digest(secret),
            "hint": hint,
            "name": name,
            "user_id": user_id,
            "org_id": org_id,
            "scopes": list(scope_list),
            "created_at": now,
            "expires_at": expires,
        }

        def created(owner_org: str | None) -> AuditEvent:
            return AuditEvent(
                "apikey.created",
                now,
                actor=actor,
                subject=user_id or owner_org,
                detail={
                    "key_id": str(key_id),
                    "name": name,
                    "hint": hint,
                    "owner": "user" if user_id is not None else "org",
                    "scopes": list(scope_list),
                    "expires_at": expires.isoformat() if expires else None,
                },
            )

        org_id = await self._store.insert(row, created, _unknown_org)
        auth = ApiKeyAuth(
            key_id=key_id,
            name=name,
            user_id=user_id,
            org_id=org_id,
            scopes=scope_list,
            expires_at=expires,
        )
        return secret, auth

    async def get(self, key_id: UUID | str) -> ApiKeyInfo | None:
        row = await self._store.get(_key_id(key_id))
        return _info(row) if row is not None else None

    async def list(
        self,
        user_id: str | None = None,
        org_id: str | None = None,
        include_revoked: bool = False,
        *,
        after: tuple[datetime, UUID] | None = None,
        limit: int | None = None,
    ) -> builtins.list[ApiKeyInfo]:
        """Keys, oldest first, optionally of one user or org (its id or slug); revoked ones only
        when asked. ``after`` (a key's ``created_at`` and ``id``) and ``limit``: one page."""
        rows = await self._store.list(user_id, org_id, include_revoked, after=after, limit=limit)
        return [_info(r) for r in rows]

    async def revoke(self, key_id: UUID | str, *, actor: str | None = None) -> bool:
        """Revoke a key; this process refuses it at once, others within cache_refresh_seconds.
        Returns False when there is no such key or it was already revoked."""
        kid = _key_id(key_id)
        self._cache.revoked({kid})
        now = datetime.now(UTC)

        def revoked(row: Any) -> AuditEvent:
            return AuditEvent(
                "apikey.revoked",
                now,
                actor=actor,
                subject=row.user_id or row.org_id,
                detail={"key_id": str(kid), "name": row.name, "hint": row.hint},
            )

        return await self._store.revoke(kid, now, revoked)

    # -- verification ---------------------------------------------------------------------------

    async def verify(self, secret: str, *, address: str | None = None) -> ApiKeyAuth:
        """The key ``secret`` is, or :class:`TokenError`. A cached key completes without I/O.
        A refusal counts against ``address`` (the caller's); an address that failed too often
        gets :class:`TooManyFailures` without its key being looked at."""
        failures = self._failures
        if failures is None or address is None:
            return await self._verify(secret)
        keys = failures.api_key_keys(address)
        wait = await failures.retry_after(keys)
        if wait:
            raise TooManyFailures(wait)
        try:
            return await self._verify(secret)
        except TokenError:
            await failures.failed(keys)
            raise

    async def _verify(self, secret: str) -> ApiKeyAuth:
        if not is_well_formed(secret):
            raise TokenError(
                "api-key-malformed", "not an authward API key (wrong prefix, length or checksum)"
            )
        digest = opaque.digest(secret)
        now = time.time()
        auth = self._cache.get(digest, now)
        if auth is None:
            auth = await self._cache.load(digest, now)
        self._uses.record(auth.key_id, now)
        return auth

    async def _read(self, digest: str) -> Found[ApiKeyAuth] | None:
        # A hot key is read again every interval (in the background): the uses recorded since
        # are written with it, so last_used_at stays within about one interval of the truth.
        if self._uses.due():
            await self._uses.flush_quietly()
        row = await self._store.by_digest(digest)
        if row is None:
            return None
        return Found(
            row.id, row.digest, row.revoked_at is not None, row.expires_at, lambda: _auth(row)
        )

    async def revoke_org_keys(
        self, conn: Transaction, org_id: str, *, now: datetime, actor: str | None = None
    ) -> builtins.list[UUID]:
        """:func:`authward.store.api_keys.revoke_org_keys` in the caller's transaction
        (``Organizations.delete``), and refuse those keys in this process at once. Should the
        transaction roll back, call :meth:`forget_local_revocations` with the ids returned."""
        ids = await self._store.revoke_org_keys(conn, org_id, now, actor)
        if ids:
            # Synchronously, before the commit: a verification that read the row before the
            # UPDATE checks the local revocations after its read, and what it cached goes here.
            self._cache.revoked(set(ids))
        return ids

    def forget_local_revocations(self, key_ids: Iterable[UUID]) -> None:
        """Undo :meth:`revoke_org_keys`'s local refusal after its transaction rolled back."""
        self._cache.revoked_here.difference_update(key_ids)

    def invalidate(self) -> None:
        """Re-read every key from the store on its next use (sees other processes' revocations)."""
        self._cache.clear()

    async def close(self) -> None:
        """Let the reads in flight finish, then write the recorded uses (``Authward.close()``)."""
        await self._cache.close()
        await self.flush()

    async def flush(self) -> int:
        """Write the recorded uses to ``last_used_at`` in one batch; returns how many keys.
        :class:`~authward.errors.StoreError` when the database cannot take them (they are kept
        for the next flush)."""
        return await self._uses.flush()
