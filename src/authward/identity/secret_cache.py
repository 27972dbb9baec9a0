"""The lookup-and-cache block of opaque secrets: API keys, M2M tokens and machine secret keys.

A secret is found by its SHA-256 digest (indexed), the digest compared again in constant time,
and what it stands for kept in a bounded in-memory cache, so a hot secret costs a dictionary
lookup. A cached entry is re-read from the store once older than ``refresh_seconds``; its expiry
is checked on every use; a secret revoked through this process is refused at once and never
cached again, whatever a read racing with the revocation saw.
"""

from __future__ import annotations

__all__ = ["Found", "Refusals", "SecretCache"]

import hmac
from collections.abc import Awaitable, Callable, Collection, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NoReturn, TypeVar

from authward.errors import TokenError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Refusals:
    """``(reason, message)`` of each refusal, in the kind's own words."""

    unknown: tuple[str, str]
    revoked: tuple[str, str]
    #: ``None`` for secrets that never expire.
    expired: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Found(Generic[T]):
    """The row the digest index found, as the cache needs it."""

    id: Hashable
    #: The stored digest, compared with the presented one in constant time.
    digest: str
    revoked: bool
    expires_at: datetime | None
    #: What the secret stands for; called only once the secret is known and not revoked.
    build: Callable[[], T]


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    id: Hashable
    value: T
    #: expires_at as a POSIX timestamp, compared on every hit.
    expires_ts: float | None
    #: when the entry was read from the store (the cache's clock).
    loaded_at: float


class SecretCache(Generic[T]):
    def __init__(
        self,
        refusals: Refusals,
        *,
        max_entries: int,
        refresh_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._refusals = refusals
        self._max = max_entries
        self._refresh = refresh_seconds
        self._clock = clock
        #: digest -> accepted secret; insertion order is the eviction order.
        self._entries: dict[str, _Entry[T]] = {}
        #: ids of secrets revoked through this process: never (re-)cached.
        self.revoked_here: set[Hashable] = set()

    def __contains__(self, digest: str) -> bool:
        return digest in self._entries

    def get(self, digest: str, now: float) -> T | None:
        """What the secret stands for when it was read lately, else ``None`` (read it with
        :meth:`load`). ``now`` is POSIX time, for the expiry."""
        entry = self._entries.get(digest)
        if entry is None or self._clock() - entry.loaded_at >= self._refresh:
            return None
        if entry.expires_ts is not None and now >= entry.expires_ts:
            del self._entries[digest]
            self._refuse(self._refusals.expired)
        return entry.value

    async def load(
        self, digest: str, read: Callable[[], Awaitable[Found[T] | None]], now: float
    ) -> T:
        """Read the secret from the store with ``read`` (a lookup by digest), check it and keep
        it; :class:`TokenError` when it is unknown, revoked or expired."""
        found = await read()
        # No await below: a revocation through this process cannot slip in between.
        self._entries.pop(digest, None)
        # The index found the row; the digest itself is still compared in constant time.
        if found is None or not hmac.compare_digest(found.digest, digest):
            self._refuse(self._refusals.unknown)
        if found.revoked or found.id in self.revoked_here:
            self._refuse(self._refusals.revoked)
        value = found.build()
        expires_ts = found.expires_at.timestamp() if found.expires_at is not None else None
        if expires_ts is not None and now >= expires_ts:
            self._refuse(self._refusals.expired)
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[digest] = _Entry(found.id, value, expires_ts, self._clock())
        return value

    def revoked(self, ids: Collection[Hashable]) -> None:
        """Secrets revoked through this process: refused here at once, from now on."""
        self.revoked_here.update(ids)
        for digest in [d for d, e in self._entries.items() if e.id in ids]:
            del self._entries[digest]

    def clear(self) -> None:
        """Re-read every secret from the store on its next use."""
        self._entries.clear()

    @staticmethod
    def _refuse(refusal: tuple[str, str] | None) -> NoReturn:
        assert refusal is not None  # an expiry was stored, so the kind can expire
        raise TokenError(*refusal)
