"""Refreshing a connection's token at its provider, one process at a time, and marking a
connection broken.

The refresher takes a lease on the row through the store (a conditional UPDATE: ``version``
unchanged and no live lease); the processes that do not get it wait for ``version`` to change and
serve the row that lands. A refresh token the provider says is gone breaks the connection until
the account connects again.
"""

from __future__ import annotations

__all__ = ["LEASE_SECONDS", "Refreshed", "Refresher"]

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authward.connections.client import (
    ProviderClient,
    ProviderUnreachable,
    TokenRefused,
    TokenSet,
)
from authward.connections.errors import ConnectionUnavailable, UnknownConnectionProvider
from authward.connections.ports import Sealer, VaultStorePort
from authward.connections.values import open_token, seal_token
from authward.observability import metrics
from authward.store.audit import AuditEvent

log = logging.getLogger("authward.connections")

#: How long a refresher's lease on a row lasts: longer than a token request can take (10 s).
LEASE_SECONDS = 30.0
#: How often a process waiting on another's refresh looks at the row (doubling up to the max).
_WAIT_FIRST, _WAIT_MAX = 0.02, 0.25
#: The provider's answers that mean the refresh token is gone for good: reconnect.
_GRANT_GONE = frozenset(
    {"invalid_grant", "invalid_refresh_token", "bad_refresh_token", "token_revoked",
     "token_expired"}
)  # fmt: skip
_MAX_REASON = 300
#: After a failed refresh of a token still valid, how long it is served before trying again.
_RETRY_SECONDS = 1.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What a refresh ends with: the row to serve (None: the connection was removed meanwhile);
    or ``broken``, the reason the provider refused the refresh token; ``retry_at`` (wall-clock
    seconds): the refresh failed, the row's token is still valid until then."""

    row: Any | None
    broken: str | None = None
    retry_at: float | None = None


class Refresher:
    def __init__(
        self,
        store: VaultStorePort,
        box: Sealer,
        clients: Callable[[str], ProviderClient],
        *,
        owner: str,
        skew_seconds: float,
    ) -> None:
        """``clients``: the provider's client by name; ``owner``: names this process in
        leases; ``skew_seconds``: how long before it expires a token is refreshed."""
        self._store = store
        self._box = box
        self._clients = clients
        self._owner = owner
        self._skew = skew_seconds

    def due(self, row: Any) -> bool:
        """Whether the row's token must be refreshed before it is served."""
        expires = row.expires_at
        return (
            row.status == "active"
            and row.refresh_token is not None
            and expires is not None
            and time.time() >= expires.timestamp() - self._skew
        )

    async def refresh(self, row: Any, who: str | None) -> Refreshed:
        """The row after one refresh, made here or by whichever process holds the lease.
        ``who``: the account, for errors (None: the developer). Raises
        :class:`ConnectionUnavailable` when the token has expired and the provider cannot give
        a new one now."""
        delay = _WAIT_FIRST
        while True:
            if not self.due(row):
                return Refreshed(row)  # broken, or another process refreshed it already
            now = _now()
            until = now + timedelta(seconds=LEASE_SECONDS)
            if await self._store.take_lease(row.id, row.version, self._owner, now, until):
                return await self._refresh_leased(row, who)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _WAIT_MAX)
            fresh = await self._store.find(row.provider, row.kind, row.account_id)
            if fresh is None:
                return Refreshed(None)
            row = fresh

    async def _refresh_leased(self, row: Any, who: str | None) -> Refreshed:
        provider = row.provider
        try:
            tokens = await self._call_provider(row)
        except TokenRefused as exc:
            if exc.error in _GRANT_GONE:
                reason = f"the provider refused the refresh token ({exc.error})"
                log.info("%s connection %s broken: %s", provider, row.id, reason)
                await self.set_broken(row.id, reason)
                return Refreshed(None, broken=reason)
            await self._store.release(row.id, self._owner)
            raise ConnectionUnavailable(
                provider, who, f"the provider refused authward's refresh request ({exc.error})"
            ) from None
        except (ProviderUnreachable, UnknownConnectionProvider, ValueError) as exc:
            await self._store.release(row.id, self._owner)
            if row.expires_at is not None and time.time() < row.expires_at.timestamp():
                # Still valid for a moment: serve it, and try again on the next read.
                log.warning("%s connection %s: refresh failed (%s)", provider, row.id, exc)
                return Refreshed(row, retry_at=time.time() + _RETRY_SECONDS)
            raise ConnectionUnavailable(provider, who, str(exc)) from None
        stored = await self._save(row, tokens)
        if stored is None:
            # Disconnected meanwhile, or our lease ran out and another process took it over.
            log.warning("%s connection %s changed during its refresh", provider, row.id)
            stored = await self._store.find(row.provider, row.kind, row.account_id)
        return Refreshed(stored)

    async def _call_provider(self, row: Any) -> TokenSet:
        try:
            tokens = await self._clients(row.provider).refresh(
                open_token(self._box, row, "refresh_token")
            )
        except Exception:
            metrics.vault_refresh(ok=False)
            raise
        metrics.vault_refresh(ok=True)
        return tokens

    async def _save(self, row: Any, tokens: TokenSet) -> Any | None:
        now = _now()
        # Providers that rotate refresh tokens send a new one; others keep the old one valid.
        # Either way it is sealed again, under the newest instance key.
        refresh_plain = tokens.refresh_token
        if refresh_plain is None:
            refresh_plain = open_token(self._box, row, "refresh_token")
        values: dict[str, Any] = {
            "access_token": seal_token(self._box, row.id, "access_token", tokens.access_token),
            "refresh_token": seal_token(self._box, row.id, "refresh_token", refresh_plain),
            "token_type": tokens.token_type[:32],
            "expires_at": tokens.expires_at,
            "updated_at": now,
        }
        if tokens.scopes is not None:
            values["scopes"] = " ".join(tokens.scopes)
        event = AuditEvent(
            "connection.refreshed",
            now,
            actor="authward",
            subject=row.account_id or None,
            detail={"provider": row.provider, "connection_id": row.id},
        )
        return await self._store.save_refreshed(row.id, self._owner, values, event)

    async def set_broken(self, connection_id: str, reason: str) -> bool:
        """Mark the connection broken for ``reason`` (tidied, never empty), with its audit
        event. False when there is no such connection."""
        reason = " ".join(str(reason).split())[:_MAX_REASON] or "refused by the provider"
        now = _now()

        def event(row: Any) -> AuditEvent:
            return AuditEvent(
                "connection.broken",
                now,
                actor="authward",
                subject=row.account_id or None,
                detail={"provider": row.provider, "connection_id": connection_id, "reason": reason},
            )

        return await self._store.set_broken(connection_id, reason, now, event)
