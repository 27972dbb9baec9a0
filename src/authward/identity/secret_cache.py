"""The lookup-and-cache block of opaque secrets: API keys, M2M tokens and machine secret keys.

A secret is found by its SHA-256 digest (indexed), the digest compared again in constant time,
and what it stands for kept in memory under the digest (the secret itself is never kept), so a
hot secret costs a dictionary lookup. Entries are a :class:`~authward.refreshing.RefreshingMap`:
an entry past half of ``refresh_seconds`` is read again in the background, one as old as the full
interval is waited for (decision 044), so a revocation by another process is refused here within
that interval. Its expiry is checked on every use; a secret revoked through this process is
refused at once and never cached again, whatever a read racing with the revocation saw.
"""

from __future__ import annotations

__all__ = ["Found", "Refusals", "SecretCache"]

import hmac
import time
from collections.abc import Awaitable, Callable, Collection, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NoReturn, TypeVar

from authward.errors import TokenError
from authward.refreshing import RefreshingMap

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
    """What a read found of an accepted secret."""

    id: Hashable
    value: T
    #: expires_at as a POSIX timestamp, compared on every hit.
    expires_ts: float | None


@dataclass(frozen=True, slots=True)
class _Refused:
    """The refusal a read earned, kept until it is next asked for, so that a background read
    can refuse a secret."""

    id: Hashable
    refusal: tuple[str, str]


class SecretCache(Generic[T]):
    """``read`` finds a secret's row by digest; ``what`` names the secrets in the log."""

    def __init__(
        self,
        refusals: Refusals,
        read: Callable[[str], Awaitable[Found[T] | None]],
        *,
        what: str,
        max_entries: int,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refusals = refusals
        self._read = read
        #: digest -> what the secret stands for, or its refusal.
        self._entries: RefreshingMap[str, _Entry[T] | _Refused] = RefreshingMap(
            self._load,
            refresh_seconds=refresh_seconds,
            what=what,
            max_entries=max_entries,
            monotonic=clock,
        )
        self._by_digest = self._entries.entries
        #: ids of secrets revoked through this process: never (re-)cached.
        self.revoked_here: set[Hashable] = set()

    def __contains__(self, digest: str) -> bool:
        return digest in self._by_digest

    def digests(self) -> list[str]:
        """What the entries are kept under (tests show that no secret is)."""
        return self._entries.keys()

    def get(self, digest: str, now: float) -> T | None:
        """What the secret stands for when it was read lately, else ``None`` (read it with
        :meth:`load`). ``now`` is POSIX time, for the expiry."""
        # Refreshing.fresh, inlined: the hot path of every API key and M2M request.
        held = self._by_digest.get(digest)
        if held is None:
            return None
        entry = held.value
        if entry is None or (held.monotonic() >= held.renew_at and not held.renew()):
            return None
        return self._accept(digest, entry, now)

    async def load(self, digest: str, now: float) -> T:
        """Read the secret from the store (or wait for the read in flight), check it and keep
        it; :class:`TokenError` when it is unknown, revoked or expired."""
        entry = await self._entries.get(digest)
        # Revoked here while the read was under way (an entry in the cache is evicted at once).
        if entry.id in self.revoked_here:
            self._entries.discard(digest)
            self._refuse(self._refusals.revoked)
        return self._accept(digest, entry, now)

    def revoked(self, ids: Collection[Hashable]) -> None:
        """Secrets revoked through this process: refused here at once, from now on."""
        self.revoked_here.update(ids)
        self._entries.discard_where(lambda entry: entry.id in ids)

    def clear(self) -> None:
        """Re-read every secret from the store on its next use."""
        self._entries.clear()

    async def close(self) -> None:
        """Let the reads in flight finish: call before the store is closed."""
        await self._entries.close()

    def _accept(self, digest: str, entry: _Entry[T] | _Refused, now: float) -> T:
        if isinstance(entry, _Refused):
            self._entries.discard(digest)
            raise TokenError(*entry.refusal)
        if entry.expires_ts is not None and now >= entry.expires_ts:
            self._entries.discard(digest)
            self._refuse(self._refusals.expired)
        return entry.value

    async def _load(self, digest: str) -> _Entry[T] | _Refused:
        found = await self._read(digest)
        # No await below: a revocation through this process cannot slip in between.
        # The index found the row; the digest itself is still compared in constant time.
        if found is None or not hmac.compare_digest(found.digest, digest):
            return _Refused(None, self._refusals.unknown)
        if found.revoked or found.id in self.revoked_here:
            return _Refused(found.id, self._refusals.revoked)
        try:
            value = found.build()
        except TokenError as exc:
            return _Refused(found.id, (exc.reason, str(exc)))
        expires_ts = found.expires_at.timestamp() if found.expires_at is not None else None
        return _Entry(found.id, value, expires_ts)

    @staticmethod
    def _refuse(refusal: tuple[str, str] | None) -> NoReturn:
        assert refusal is not None  # an expiry was stored, so the kind can expire
        raise TokenError(*refusal)
