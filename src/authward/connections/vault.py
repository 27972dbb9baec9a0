"""``aw.connections``: the connected-accounts vault (docs/connected-accounts.md, decision 021).

    tokens = await aw.connections.get_oauth_access_token("user_123", "oauth_slack")
    tokens[0].token                     # refreshed before it expires; [] when not connected

Tokens are sealed at rest (AES-256-GCM with the instance key, associated data naming the row and
column). Reads are served from a warm in-memory cache of opened tokens:

- an entry is trusted for ``AUTHWARD_CACHE_REFRESH_SECONDS``; then the row is read again and
  the entry kept when the row's ``version`` did not change (no decryption), replaced otherwise.
  So a change made by another process (a refresh, a disconnect, ``mark_broken``) is seen within
  that time; a change made by this process empties the entry at once;
- a token is refreshed ``REFRESH_SKEW_SECONDS`` before it expires, by one task per connection in
  this process (the others await it) and by one process at a time: the refresher takes a lease
  on the row with a conditional UPDATE (``version`` unchanged and no live lease); the other
  processes wait for ``version`` to change, then read the new token.
"""

from __future__ import annotations

__all__ = ["REFRESH_SKEW_SECONDS", "ConnectionInfo", "ConnectionVault", "OAuthAccessToken"]

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import httpx
from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.config.app import Config
from authward.config.connection import ConnectionProvider
from authward.connections.client import (
    ProviderClient,
    ProviderUnreachable,
    TokenRefused,
    TokenSet,
    token_set,
)
from authward.connections.errors import (
    ConnectionBroken,
    ConnectionUnavailable,
    UnknownConnectionProvider,
)
from authward.connections.reads import VaultRead, note_vault_read
from authward.crypto.secretbox import SecretBox
from authward.store.audit import AuditEvent, AuditStore
from authward.store.engine import begin_write
from authward.store.schema import connections

if TYPE_CHECKING:
    from authward.jobs.credentials import Credentials

log = logging.getLogger("authward.connections")

Kind = Literal["account", "developer"]
#: A token is refreshed this long before it expires, so a call made with it does not race expiry.
REFRESH_SKEW_SECONDS = 60.0
#: How long a refresher's lease on a row lasts: longer than a token request can take (10 s).
LEASE_SECONDS = 30.0
_HTTP_TIMEOUT = httpx.Timeout(10.0)
#: How often a process waiting on another's refresh looks at the row (doubling up to the max).
_WAIT_FIRST, _WAIT_MAX = 0.02, 0.25
#: The provider's answers that mean the refresh token is gone for good: reconnect.
_GRANT_GONE = frozenset(
    {"invalid_grant", "invalid_refresh_token", "bad_refresh_token", "token_revoked",
     "token_expired"}
)  # fmt: skip
_MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class OAuthAccessToken:
    """One token of a connection, as Clerk's ``getUserOauthAccessToken`` returns them."""

    token: str = field(repr=False)
    provider: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    external_id: str | None
    label: str | None
    connection_id: str
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A connection without its secrets (listings, the CLI, the connections page)."""

    id: str
    provider: str
    kind: Kind
    account_id: str
    external_id: str | None
    label: str | None
    scopes: tuple[str, ...]
    expires_at: datetime | None
    has_refresh_token: bool
    status: str
    broken_reason: str | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "kind": self.kind,
            "account_id": self.account_id or None,
            "external_id": self.external_id,
            "label": self.label,
            "scopes": list(self.scopes),
            "expires_at": self.expires_at,
            "has_refresh_token": self.has_refresh_token,
            "status": self.status,
            "broken_reason": self.broken_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(slots=True)
class _Entry:
    """What the cache knows of one (provider, kind, account): a token, broken, or nothing."""

    version: int
    connection_id: str | None
    token: OAuthAccessToken | None
    broken_reason: str | None
    #: Wall-clock seconds after which the token must be refreshed first (None: never).
    refresh_after: float | None
    checked: float = 0.0


_Key = tuple[str, Kind, str]


def _now() -> datetime:
    return datetime.now(UTC)


def _aad(connection_id: str, column: str) -> str:
    return f"aw_connections.{column}:{connection_id}"


def _info(row: Row[Any]) -> ConnectionInfo:
    return ConnectionInfo(
        id=row.id,
        provider=row.provider,
        kind=row.kind,
        account_id=row.account_id,
        external_id=row.external_id,
        label=row.label,
        scopes=tuple(row.scopes.split()) if row.scopes else (),
        expires_at=row.expires_at,
        has_refresh_token=row.refresh_token is not None,
        status=row.status,
        broken_reason=row.broken_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ConnectionVault:
    def __init__(
        self,
        engine: AsyncEngine,
        config: Config,
        box: SecretBox,
        *,
        audit: AuditStore,
        cache_seconds: float,
        skew_seconds: float = REFRESH_SKEW_SECONDS,
    ) -> None:
        self._engine = engine
        self._box = box
        self._audit = audit
        self._ttl = cache_seconds
        self._skew = skew_seconds
        self.providers: Mapping[str, ConnectionProvider] = config.auth.connections
        self._id_provider = config.auth.id_provider
        self._http: httpx.AsyncClient | None = None
        self._clients: dict[str, ProviderClient] = {}
        self._cache: dict[_Key, _Entry] = {}
        self._loading: dict[_Key, asyncio.Task[_Entry]] = {}
        #: Names this process in refresh leases.
        self._owner = "vault_" + secrets.token_hex(8)

    # -- providers ------------------------------------------------------------------------------

    def provider(self, name: str) -> ConnectionProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise UnknownConnectionProvider(name, list(self.providers))
        return provider

    def client(self, name: str) -> ProviderClient:
        client = self._clients.get(name)
        if client is None:
            provider = self.provider(name)
            if self._http is None:
                # One pool for every provider: refreshes under load reuse their connections.
                self._http = httpx.AsyncClient(timeout=_HTTP_TIMEOUT, follow_redirects=False)
            idp = self._id_provider if provider.id_provider is not None else None
            client = ProviderClient(provider, self._http, id_provider=idp)
            self._clients[name] = client
        return client

    async def close(self) -> None:
        for task in list(self._loading.values()):
            task.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- reading tokens -------------------------------------------------------------------------

    async def get_oauth_access_token(
        self, account_id: str, provider: str
    ) -> list[OAuthAccessToken]:
        """The account's tokens for ``provider`` ("oauth_slack"): one, refreshed when it was
        about to expire, or ``[]`` when the account has not connected it. A connection the
        provider refused raises :class:`ConnectionBroken` until the account connects again."""
        if not isinstance(account_id, str) or not account_id:
            raise ValueError("account_id must be a non-empty string")
        self.provider(provider)  # a misspelt provider is an error, not "not connected"
        token = await self._token((provider, "account", account_id))
        return [token] if token is not None else []

    async def developer_credentials(self, provider: str) -> Credentials | None:
        """The developer's own connection (``authward connection add-developer``), if any."""
        # Here, not at the top: the job runtime imports this package (connections.reads).
        from authward.jobs.credentials import Credentials

        token = await self._token((provider, "developer", ""))
        if token is None:
            return None
        return Credentials(
            type="oauth",
            token=token.token,
            source="developer",
            account_id=None,
            connection_id=token.connection_id,
        )

    async def _token(self, key: _Key) -> OAuthAccessToken | None:
        entry = self._cache.get(key)
        if (
            entry is None
            or time.monotonic() - entry.checked >= self._ttl
            or (entry.refresh_after is not None and time.time() >= entry.refresh_after)
        ):
            entry = await self._load(key)
        if entry.broken_reason is not None:
            provider, kind, account = key
            raise ConnectionBroken(
                provider, account if kind == "account" else None, entry.broken_reason
            )
        token = entry.token
        if token is not None:
            note_vault_read(VaultRead(token.connection_id, key[0], key[2], token.token))
        return token

    async def _load(self, key: _Key) -> _Entry:
        # One load (and refresh) per connection at a time in this process; the others wait for
        # it. A task, so that a caller cancelled while waiting does not cancel the others' load.
        task = self._loading.get(key)
        if task is None:
            task = asyncio.create_task(self._load_now(key))
            self._loading[key] = task
            task.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(task)

    async def _load_now(self, key: _Key) -> _Entry:
        row = await self._read(key)
        entry = self._entry(key, row)
        if entry.refresh_after is not None and time.time() >= entry.refresh_after and row:
            entry = await self._refresh(key, row)
        entry.checked = time.monotonic()
        self._cache[key] = entry
        return entry

    def _entry(self, key: _Key, row: Row[Any] | None) -> _Entry:
        if row is None:
            return _Entry(-1, None, None, None, None)
        cached = self._cache.get(key)
        if cached is not None and cached.version == row.version and cached.connection_id == row.id:
            return cached  # unchanged: no need to open the token again
        if row.status == "broken":
            return _Entry(row.version, row.id, None, row.broken_reason or "refused", None)
        token = self._box.open(row.access_token, _aad(row.id, "access_token")).decode()
        refresh_after = None
        if row.expires_at is not None and row.refresh_token is not None:
            refresh_after = row.expires_at.timestamp() - self._skew
        return _Entry(
            version=row.version,
            connection_id=row.id,
            token=OAuthAccessToken(
                token=token,
                provider=row.provider,
                scopes=tuple(row.scopes.split()) if row.scopes else (),
                expires_at=row.expires_at,
                external_id=row.external_id,
                label=row.label,
                connection_id=row.id,
                token_type=row.token_type,
            ),
            broken_reason=None,
            refresh_after=refresh_after,
        )

    async def _read(self, key: _Key) -> Row[Any] | None:
        provider, kind, account = key
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(connections).where(
                    connections.c.provider == provider,
                    connections.c.kind == kind,
                    connections.c.account_id == account,
                )
            )
            return result.first()

    async def _read_id(self, connection_id: str) -> Row[Any] | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(connections).where(connections.c.id == connection_id)
            )
            return result.first()

    # -- refresh --------------------------------------------------------------------------------

    async def _refresh(self, key: _Key, row: Row[Any]) -> _Entry:
        """The row's token after one refresh, made here or by whichever process holds the lease."""
        _, kind, account = key
        who = account if kind == "account" else None
        delay = _WAIT_FIRST
        while True:
            if row.status != "active":
                return self._entry(key, row)
            expires = row.expires_at
            if (
                row.refresh_token is None
                or expires is None
                or (time.time() < expires.timestamp() - self._skew)
            ):
                return self._entry(key, row)  # another process refreshed it already
            if await self._take_lease(row):
                return await self._refresh_leased(key, row, who)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _WAIT_MAX)
            fresh = await self._read(key)
            if fresh is None:
                return _Entry(-1, None, None, None, None)
            row = fresh

    async def _take_lease(self, row: Row[Any]) -> bool:
        now = _now()
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(connections)
                .where(
                    connections.c.id == row.id,
                    connections.c.version == row.version,
                    connections.c.status == "active",
                    (connections.c.refresh_owner.is_(None)) | (connections.c.refresh_until < now),
                )
                .values(
                    refresh_owner=self._owner, refresh_until=now + timedelta(seconds=LEASE_SECONDS)
                )
            )
            return bool(result.rowcount == 1)

    async def _refresh_leased(self, key: _Key, row: Row[Any], who: str | None) -> _Entry:
        provider = row.provider
        refresh_token = self._box.open(row.refresh_token, _aad(row.id, "refresh_token")).decode()
        try:
            tokens = await self.client(provider).refresh(refresh_token)
        except TokenRefused as exc:
            if exc.error in _GRANT_GONE:
                reason = f"the provider refused the refresh token ({exc.error})"
                log.info("%s connection %s broken: %s", provider, row.id, reason)
                await self._set_broken(row.id, reason, owner=self._owner)
                return _Entry(row.version + 1, row.id, None, reason, None)
            await self._release(row.id)
            raise ConnectionUnavailable(
                provider, who, f"the provider refused authward's refresh request ({exc.error})"
            ) from None
        except (ProviderUnreachable, UnknownConnectionProvider, ValueError) as exc:
            await self._release(row.id)
            if row.expires_at is not None and time.time() < row.expires_at.timestamp():
                # Still valid for a moment: serve it, and try again on the next read.
                log.warning("%s connection %s: refresh failed (%s)", provider, row.id, exc)
                entry = self._entry(key, row)
                entry.refresh_after = time.time() + 1.0
                return entry
            raise ConnectionUnavailable(provider, who, str(exc)) from None
        stored = await self._store_refreshed(row, tokens)
        if stored is None:
            fresh = await self._read(key)
            return self._entry(key, fresh)
        return self._entry(key, stored)

    async def _store_refreshed(self, row: Row[Any], tokens: TokenSet) -> Row[Any] | None:
        now = _now()
        # Providers that rotate refresh tokens send a new one; others keep the old one valid.
        # Either way it is sealed again, under the newest instance key.
        refresh_plain = tokens.refresh_token
        if refresh_plain is None:
            refresh_plain = self._box.open(
                row.refresh_token, _aad(row.id, "refresh_token")
            ).decode()
        values: dict[str, Any] = {
            "access_token": self._box.seal(
                tokens.access_token.encode(), _aad(row.id, "access_token")
            ),
            "refresh_token": self._box.seal(refresh_plain.encode(), _aad(row.id, "refresh_token")),
            "token_type": tokens.token_type[:32],
            "expires_at": tokens.expires_at,
            "version": row.version + 1,
            "refresh_owner": None,
            "refresh_until": None,
            "updated_at": now,
        }
        if tokens.scopes is not None:
            values["scopes"] = " ".join(tokens.scopes)
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(connections)
                .where(connections.c.id == row.id, connections.c.refresh_owner == self._owner)
                .values(**values)
            )
            if result.rowcount != 1:
                # Disconnected meanwhile, or our lease ran out and another process took it over.
                log.warning("%s connection %s changed during its refresh", row.provider, row.id)
                return None
            stored = (
                await conn.execute(select(connections).where(connections.c.id == row.id))
            ).first()
        await self._audit.record(
            AuditEvent(
                "connection.refreshed",
                now,
                actor="authward",
                subject=row.account_id or None,
                detail={"provider": row.provider, "connection_id": row.id},
            )
        )
        return stored

    async def _release(self, connection_id: str) -> None:
        async with begin_write(self._engine) as conn:
            await conn.execute(
                update(connections)
                .where(
                    connections.c.id == connection_id, connections.c.refresh_owner == self._owner
                )
                .values(refresh_owner=None, refresh_until=None)
            )

    # -- faults ---------------------------------------------------------------------------------

    async def mark_broken(self, connection_id: str, reason: str) -> None:
        """The provider refused the connection's token (a 401 at call time): reads raise
        :class:`ConnectionBroken` until the account connects again."""
        await self._set_broken(connection_id, reason, owner=None)

    async def _set_broken(self, connection_id: str, reason: str, *, owner: str | None) -> None:
        reason = " ".join(str(reason).split())[:_MAX_REASON] or "refused by the provider"
        now = _now()
        async with begin_write(self._engine) as conn:
            row = (
                await conn.execute(select(connections).where(connections.c.id == connection_id))
            ).first()
            if row is None:
                return
            await conn.execute(
                update(connections)
                .where(connections.c.id == connection_id)
                .values(
                    status="broken",
                    broken_reason=reason,
                    version=connections.c.version + 1,
                    refresh_owner=None,
                    refresh_until=None,
                    updated_at=now,
                )
            )
        self._forget(connection_id)
        await self._audit.record(
            AuditEvent(
                "connection.broken",
                now,
                actor="authward",
                subject=row.account_id or None,
                detail={"provider": row.provider, "connection_id": connection_id, "reason": reason},
            )
        )

    def _forget(self, connection_id: str | None = None, key: _Key | None = None) -> None:
        for k, entry in list(self._cache.items()):
            if k == key or (connection_id is not None and entry.connection_id == connection_id):
                del self._cache[k]

    # -- connecting and disconnecting -----------------------------------------------------------

    async def store(
        self,
        account_id: str,
        provider: str,
        tokens: TokenSet,
        *,
        kind: Kind = "account",
        actor: str | None = None,
    ) -> ConnectionInfo:
        """Keep ``tokens`` as the connection of ``account_id`` (``kind="developer"``: the
        developer's own, account ""), replacing an earlier one (and clearing "broken")."""
        if kind == "account" and not account_id:
            raise ValueError("account_id must be a non-empty string")
        if kind == "account":
            self.provider(provider)
        key: _Key = (provider, kind, account_id if kind == "account" else "")
        now = _now()
        for _ in range(3):
            existing = await self._read(key)
            connection_id = existing.id if existing else "conn_" + secrets.token_urlsafe(16)
            scopes = tokens.scopes
            if scopes is None:
                scopes = self.providers[provider].scopes if provider in self.providers else ()
            values: dict[str, Any] = {
                "access_token": self._box.seal(
                    tokens.access_token.encode(), _aad(connection_id, "access_token")
                ),
                "refresh_token": self._box.seal(
                    tokens.refresh_token.encode(), _aad(connection_id, "refresh_token")
                )
                if tokens.refresh_token
                else None,
                "token_type": tokens.token_type[:32],
                "expires_at": tokens.expires_at,
                "scopes": " ".join(scopes),
                "external_id": tokens.external_id,
                "label": tokens.label,
                "status": "active",
                "broken_reason": None,
                "refresh_owner": None,
                "refresh_until": None,
                "updated_at": now,
            }
            try:
                async with begin_write(self._engine) as conn:
                    if existing is None:
                        await conn.execute(
                            insert(connections).values(
                                id=connection_id,
                                provider=provider,
                                kind=kind,
                                account_id=key[2],
                                version=1,
                                created_at=now,
                                **values,
                            )
                        )
                    else:
                        await conn.execute(
                            update(connections)
                            .where(connections.c.id == connection_id)
                            .values(version=connections.c.version + 1, **values)
                        )
                    stored = (
                        await conn.execute(
                            select(connections).where(connections.c.id == connection_id)
                        )
                    ).first()
            except IntegrityError:
                continue  # connected at the same moment elsewhere: update that row instead
            assert stored is not None
            self._forget(connection_id, key)
            await self._audit.record(
                AuditEvent(
                    "connection.connected",
                    now,
                    actor=actor or (key[2] or "cli"),
                    subject=key[2] or None,
                    detail={"provider": provider, "connection_id": connection_id, "kind": kind},
                )
            )
            return _info(stored)
        raise RuntimeError("could not store the connection")  # pragma: no cover

    async def store_token_response(
        self, account_id: str, provider: str, body: Mapping[str, Any], external_id: str | None
    ) -> ConnectionInfo:
        """Keep a provider's token response (RFC 6749 §5.1), e.g. the external IdP login's."""
        tokens = token_set(body, self.provider(provider).scope_separator, _now())
        if tokens.external_id is None and external_id:
            tokens = replace(tokens, external_id=external_id[:255])
        return await self.store(account_id, provider, tokens, actor=account_id)

    async def disconnect(
        self,
        account_id: str,
        provider: str,
        *,
        kind: Kind = "account",
        revoke: bool = True,
        actor: str | None = None,
    ) -> bool:
        """Remove the connection; revoke its tokens at the provider first when it has a
        revocation endpoint (best effort: the row goes either way). ``False``: there was none."""
        key: _Key = (provider, kind, account_id if kind == "account" else "")
        row = await self._read(key)
        if row is None:
            return False
        revoked = False
        if revoke and provider in self.providers:
            revoked = await self._revoke(row)
        async with begin_write(self._engine) as conn:
            await conn.execute(delete(connections).where(connections.c.id == row.id))
        self._forget(row.id, key)
        await self._audit.record(
            AuditEvent(
                "connection.removed",
                _now(),
                actor=actor or (key[2] or "cli"),
                subject=key[2] or None,
                detail={"provider": provider, "connection_id": row.id, "revoked": revoked},
            )
        )
        return True

    async def _revoke(self, row: Row[Any]) -> bool:
        client = self.client(row.provider)
        try:
            if row.refresh_token is not None:
                # RFC 7009 §2.1: revoking the refresh token ends its access tokens too.
                token = self._box.open(row.refresh_token, _aad(row.id, "refresh_token")).decode()
                return await client.revoke(token, "refresh_token")
            token = self._box.open(row.access_token, _aad(row.id, "access_token")).decode()
            return await client.revoke(token, "access_token")
        except ProviderUnreachable as exc:
            log.warning("%s connection %s: revocation failed (%s)", row.provider, row.id, exc)
            return False

    # -- listing --------------------------------------------------------------------------------

    async def list(self, account_id: str | None = None) -> list[ConnectionInfo]:
        query = select(connections).order_by(
            connections.c.account_id, connections.c.provider, connections.c.created_at
        )
        if account_id is not None:
            query = query.where(connections.c.account_id == account_id)
        async with self._engine.connect() as conn:
            return [_info(row) for row in await conn.execute(query)]

    async def get(self, connection_id: str) -> ConnectionInfo | None:
        row = await self._read_id(connection_id)
        return _info(row) if row is not None else None
