"""Failed client authentications, limited per client and per address (decision 037).

The token, introspection and revocation endpoints count each ``invalid_client`` answer against
the client id the request named and against its address, and API-key checks count each refused
key against the address, in the store
(:class:`authward.store.limits.Attempts`), so every process sharing the database adds to the same
counts. A key that reaches its limit is locked for the window: its requests are answered 429,
even with the right secret, until the window passes.

Only failures write. A request checks the keys it would use against what this process holds in
memory: the locks its own failures returned, and every lock in the store, read in the
background at most every ``cache_refresh_seconds`` (as the other views are). A successful
request therefore runs no statement of its own, and a lock set by another process is honoured
here within that interval.
"""

from __future__ import annotations

__all__ = ["AttemptCounter", "FailedAuthentications", "FailureLimits", "failure_limits"]

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from authward.refreshing import Refreshing
from authward.store.limits import LimitKey, LimitPolicy, Taken, address_key, limit_key

#: Callers (client id and address) whose keys one process remembers.
_MAX_KEYS = 10_000
#: Longer client ids (no client of ours has one) are not remembered: they would fill memory.
_MAX_CACHED_ID = 200


#: The scopes of the keys counted here (decision 037).
_SCOPES = ("client", "client_ip", "api_key_ip")


class AttemptCounter(Protocol):
    """Where attempts are counted (:class:`authward.store.limits.Attempts`)."""

    async def take(self, keys: Sequence[LimitKey], now: datetime) -> Taken: ...
    async def prune(self, now: datetime) -> None: ...
    async def locked(self, now: datetime, scopes: Sequence[str]) -> dict[str, datetime]: ...


@dataclass(frozen=True, slots=True)
class FailureLimits:
    """``client`` failures per client id and ``address`` failures per address within
    ``window_seconds`` lock the key for the rest of the window."""

    client: int
    address: int
    window_seconds: float


class FailureLimitSettings(Protocol):
    """The settings the limits come from (``AUTHWARD_AUTH_FAILURE_*``)."""

    @property
    def auth_failure_client_limit(self) -> int: ...
    @property
    def auth_failure_address_limit(self) -> int: ...
    @property
    def auth_failure_window_seconds(self) -> float: ...


def failure_limits(settings: FailureLimitSettings) -> FailureLimits:
    return FailureLimits(
        settings.auth_failure_client_limit,
        settings.auth_failure_address_limit,
        settings.auth_failure_window_seconds,
    )


class FailedAuthentications:
    """Failures counted under ``limits``; ``refresh_seconds`` is the instance's cache refresh
    interval (the locks other processes set are read that often)."""

    def __init__(
        self, attempts: AttemptCounter, limits: FailureLimits, refresh_seconds: float
    ) -> None:
        window = timedelta(seconds=limits.window_seconds)

        def policy(limit: int) -> LimitPolicy:
            return LimitPolicy(limit, window, window, window)

        self._client = policy(limits.client)
        self._address = policy(limits.address)
        self._attempts = attempts
        self._locks = Refreshing(
            self._load, refresh_seconds=refresh_seconds, what="the locked clients"
        )
        #: Locks this process's own failures set, seen before the next reload.
        self._local: dict[str, datetime] = {}
        self._window = window
        self._keys: dict[tuple[str | None, str | None], list[LimitKey]] = {}
        self._api_key_keys: dict[str, list[LimitKey]] = {}
        self._pruned_at: datetime | None = None

    async def _load(self) -> dict[str, datetime]:
        return await self._attempts.locked(datetime.now(UTC), _SCOPES)

    def keys(self, client_id: str | None, ip: str | None) -> list[LimitKey]:
        # Remembered: digests and address parsing cost more than the rest of the check.
        found = self._keys.get((client_id, ip))
        if found is None:
            found = []
            if client_id:
                found.append(limit_key("client", client_id, self._client))
            if ip:
                found.append(limit_key("client_ip", address_key(ip), self._address))
            if client_id is None or len(client_id) <= _MAX_CACHED_ID:
                if len(self._keys) >= _MAX_KEYS:
                    self._keys.clear()
                self._keys[(client_id, ip)] = found
        return found

    def api_key_keys(self, ip: str | None) -> list[LimitKey]:
        """Failed API-key checks count per address only: a wrong key names nobody."""
        if not ip:
            return []
        found = self._api_key_keys.get(ip)
        if found is None:
            found = [limit_key("api_key_ip", address_key(ip), self._address)]
            if len(self._api_key_keys) >= _MAX_KEYS:
                self._api_key_keys.clear()
            self._api_key_keys[ip] = found
        return found

    async def retry_after(self, keys: list[LimitKey]) -> int:
        """Seconds until every lock on ``keys`` ends (0: none), from memory."""
        if not keys:
            return 0
        now = datetime.now(UTC)
        stored = await self._locks.get()
        latest = None
        for key in keys:
            for until in (stored.get(key.digest), self._local.get(key.digest)):
                if until is not None and until > now and (latest is None or until > latest):
                    latest = until
        if latest is None:
            return 0
        return max(1, int((latest - now).total_seconds() + 0.999))

    async def failed(self, keys: list[LimitKey]) -> None:
        """Count a failure against ``keys`` (one statement) and remember a lock it set."""
        now = datetime.now(UTC)
        taken = await self._attempts.take(keys, now)
        if not taken.granted:
            # Locked by another process since this one last looked: read the locks again.
            self._locks.invalidate()
        self._local = {k: v for k, v in self._local.items() if v > now} | dict(taken.locks)
        if self._pruned_at is None or now - self._pruned_at > self._window:
            # Expired counts go at most once a window (sign-in failures prune them too).
            self._pruned_at = now
            await self._attempts.prune(now)

    async def close(self) -> None:
        await self._locks.close()
