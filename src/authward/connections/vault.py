"""``aw.connections``: the connected-accounts vault (docs/connected-accounts.md, decision 021).

    tokens = await aw.connections.get_oauth_access_token("user_123", "oauth_slack")
    tokens[0].token                     # refreshed before it expires; [] when not connected

Tokens are sealed at rest (AES-256-GCM with the instance key, associated data naming the row and
column) here, before the store (:class:`~authward.connections.ports.VaultStorePort`) sees them.
Reads are served from a warm in-memory cache of opened tokens (a
:class:`~authward.refreshing.RefreshingMap`, decision 044):

- an entry is trusted for ``AUTHWARD_CACHE_REFRESH_SECONDS``; past half of that its row is read
  again in the background, and the entry kept when the row's ``version`` did not change (no
  decryption), replaced otherwise. So a change made by another process (a refresh, a disconnect,
  ``mark_broken``) is seen within that time; a change made by this process empties the entry at
  once;
- a token is refreshed ``REFRESH_SKEW_SECONDS`` before it expires, by one task per connection in
  this process (the others await it) and by one process at a time
  (:class:`~authward.connections.refresh.Refresher`: a lease on the row, ``version`` unchanged
  and no live lease; the other processes wait for ``version`` to change, then read the new
  token).
"""

from __future__ import annotations

__all__ = ["REFRESH_SKEW_SECONDS", "ConnectionVault"]

import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from authward.config.connection import ConnectionProvider
from authward.config.idp import IdProvider
from authward.connections.client import ProviderClient, ProviderUnreachable, TokenSet, token_set
from authward.connections.errors import ConnectionBroken, UnknownConnectionProvider
from authward.connections.ports import Sealer, VaultStorePort
from authward.connections.reads import VaultRead, note_vault_read
from authward.connections.refresh import Refresher
from authward.connections.values import (
    ConnectionInfo,
    Credentials,
    Kind,
    OAuthAccessToken,
    info_of,
    open_token,
    seal_token,
)
from authward.refreshing import RefreshingMap
from authward.store.audit import AuditEvent

log = logging.getLogger("authward.connections")

#: A token is refreshed this long before it expires, so a call made with it does not race expiry.
REFRESH_SKEW_SECONDS = 60.0
#: Connections whose tokens one process keeps open.
_MAX_ENTRIES = 10_000
_HTTP_TIMEOUT = httpx.Timeout(10.0)


@dataclass(slots=True)
class _Entry:
    """What the cache knows of one (provider, kind, account): a token, broken, or nothing."""

    version: int
    connection_id: str | None
    token: OAuthAccessToken | None
    broken_reason: str | None
    #: Wall-clock seconds after which the token must be refreshed first (None: never).
    refresh_after: float | None


def _usable(entry: _Entry) -> bool:
    return entry.refresh_after is None or time.time() < entry.refresh_after


_Key = tuple[str, Kind, str]


def _now() -> datetime:
    return datetime.now(UTC)


class ConnectionVault:
    def __init__(
        self,
        store: VaultStorePort,
        box: Sealer,
        *,
        providers: Mapping[str, ConnectionProvider],
        id_provider: IdProvider | None,
        cache_seconds: float,
        skew_seconds: float = REFRESH_SKEW_SECONDS,
    ) -> None:
        """``providers``: the app's connection providers by name; ``id_provider``: its external
        IdP (its client serves the providers made ``from_id_provider``); ``cache_seconds``: how
        long an opened token is trusted before its row is read again."""
        self._store = store
        self._box = box
        self._ttl = cache_seconds
        self._skew = skew_seconds
        self.providers = providers
        self._id_provider = id_provider
        self._http: httpx.AsyncClient | None = None
        self._clients: dict[str, ProviderClient] = {}
        #: One load (and refresh) per connection at a time in this process; the others wait
        #: for it.
        self._cache: RefreshingMap[_Key, _Entry] = RefreshingMap(
            self._load,
            refresh_seconds=cache_seconds,
            what="a connected account's token",
            max_entries=_MAX_ENTRIES,
        )
        self._refresher = Refresher(
            store,
            box,
            self.client,
            # Names this process in refresh leases.
            owner="vault_" + secrets.token_hex(8),
            skew_seconds=skew_seconds,
        )

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
        await self._cache.close()
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
        entry = self._cache.fresh(key)
        if entry is None or not _usable(entry):
            entry = await self._cache.get(key, _usable)
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
        row = await self._read(key)
        entry = self._entry(key, row)
        if entry.refresh_after is not None and time.time() >= entry.refresh_after and row:
            entry = await self._refresh(key, row)
        return entry

    def _entry(self, key: _Key, row: Any | None) -> _Entry:
        if row is None:
            return _Entry(-1, None, None, None, None)
        cached = self._cache.held(key)
        if cached is not None and cached.version == row.version and cached.connection_id == row.id:
            return cached  # unchanged: no need to open the token again
        if row.status == "broken":
            return _Entry(row.version, row.id, None, row.broken_reason or "refused", None)
        token = open_token(self._box, row, "access_token")
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

    async def _read(self, key: _Key) -> Any | None:
        return await self._store.find(*key)

    async def _refresh(self, key: _Key, row: Any) -> _Entry:
        _, kind, account = key
        done = await self._refresher.refresh(row, account if kind == "account" else None)
        if done.broken is not None:
            self._forget(row.id)
            return _Entry(row.version + 1, row.id, None, done.broken, None)
        entry = self._entry(key, done.row)
        if done.retry_at is not None:
            entry.refresh_after = done.retry_at
        return entry

    # -- faults ---------------------------------------------------------------------------------

    async def mark_broken(self, connection_id: str, reason: str) -> None:
        """The provider refused the connection's token (a 401 at call time): reads raise
        :class:`ConnectionBroken` until the account connects again."""
        if await self._refresher.set_broken(connection_id, reason):
            self._forget(connection_id)

    def _forget(self, connection_id: str | None = None, key: _Key | None = None) -> None:
        if key is not None:
            self._cache.discard(key)
        if connection_id is not None:
            self._cache.discard_where(lambda entry: entry.connection_id == connection_id)

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
        scopes = tokens.scopes
        if scopes is None:
            scopes = self.providers[provider].scopes if provider in self.providers else ()
        for _ in range(3):
            existing = await self._read(key)
            connection_id = existing.id if existing else "conn_" + secrets.token_urlsafe(16)
            values: dict[str, Any] = {
                "access_token": seal_token(
                    self._box, connection_id, "access_token", tokens.access_token
                ),
                "refresh_token": seal_token(
                    self._box, connection_id, "refresh_token", tokens.refresh_token
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
            event = AuditEvent(
                "connection.connected",
                now,
                actor=actor or (key[2] or "cli"),
                subject=key[2] or None,
                detail={"provider": provider, "connection_id": connection_id, "kind": kind},
            )
            if existing is None:
                values.update(id=connection_id, provider=provider, kind=kind, account_id=key[2])
                values.update(version=1, created_at=now)
                stored = await self._store.insert(values, event)
            else:
                stored = await self._store.replace(connection_id, values, event)
            if stored is None:
                continue  # connected (or removed) at the same moment elsewhere: look again
            self._forget(connection_id, key)
            return info_of(stored)
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
        event = AuditEvent(
            "connection.removed",
            _now(),
            actor=actor or (key[2] or "cli"),
            subject=key[2] or None,
            detail={"provider": provider, "connection_id": row.id, "revoked": revoked},
        )
        # Removed here or by a racing disconnect: gone either way.
        await self._store.delete(row.id, event)
        self._forget(row.id, key)
        return True

    async def _revoke(self, row: Any) -> bool:
        client = self.client(row.provider)
        try:
            if row.refresh_token is not None:
                # RFC 7009 §2.1: revoking the refresh token ends its access tokens too.
                return await client.revoke(
                    open_token(self._box, row, "refresh_token"), "refresh_token"
                )
            return await client.revoke(open_token(self._box, row, "access_token"), "access_token")
        except ProviderUnreachable as exc:
            log.warning("%s connection %s: revocation failed (%s)", row.provider, row.id, exc)
            return False

    # -- listing --------------------------------------------------------------------------------

    async def list(
        self,
        account_id: str | None = None,
        *,
        provider: str | None = None,
        after: tuple[str, str, str, str] | None = None,
        limit: int | None = None,
    ) -> list[ConnectionInfo]:
        """By account, provider, kind and id; ``after`` (those four of a connection) and
        ``limit``: one page."""
        rows = await self._store.list(account_id, provider=provider, after=after, limit=limit)
        return [info_of(row) for row in rows]

    async def get(self, connection_id: str) -> ConnectionInfo | None:
        row = await self._store.get(connection_id)
        return info_of(row) if row is not None else None
