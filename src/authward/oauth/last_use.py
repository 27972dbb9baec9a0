"""When each declared OAuth client and machine user last got a token (issue 17).

The token endpoint is a hot path: a success is recorded in memory, and the uses are written in
one forward-only batch at most every ``interval`` seconds (in the background) and on close,
as API keys do with their ``last_used_at``. A crash loses at most one interval of uses.
"""

from __future__ import annotations

__all__ = ["LastUseStorePort", "LastUses"]

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from authward.errors import StoreError

log = logging.getLogger(__name__)

#: The client kinds whose uses are kept: what the config declares (registered clients are not).
_KINDS = ("oauth2_client", "machine_user")


class LastUseStorePort(Protocol):
    """:class:`authward.store.last_use.LastUseStore`."""

    async def record_uses(self, uses: Mapping[tuple[str, str], datetime]) -> None: ...


class LastUses:
    def __init__(
        self,
        store: LastUseStorePort,
        *,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._interval = interval
        self._clock = clock
        #: (kind, client_id) -> latest use (POSIX time) not yet written.
        self._pending: dict[tuple[str, str], float] = {}
        self._flushed_at = clock()
        self._task: asyncio.Task[None] | None = None

    def record(self, kind: str, client_id: str) -> None:
        """Tokens were issued to the client ``client_id`` of ``kind``; no I/O here."""
        if kind not in _KINDS:
            return
        now = self._clock()
        self._pending[(kind, client_id)] = now
        if now - self._flushed_at >= self._interval and (self._task is None or self._task.done()):
            self._flushed_at = now
            self._task = asyncio.get_running_loop().create_task(self._flush_quietly())

    async def flush(self) -> int:
        """Write the recorded uses in one batch; how many. Kept for the next flush on error."""
        pending, self._pending = self._pending, {}
        self._flushed_at = self._clock()
        if not pending:
            return 0
        try:
            await self._store.record_uses(
                {key: datetime.fromtimestamp(at, UTC) for key, at in pending.items()}
            )
        except BaseException:
            for key, at in pending.items():
                if self._pending.get(key, float("-inf")) < at:
                    self._pending[key] = at
            raise
        return len(pending)

    async def _flush_quietly(self) -> None:
        # Issuing tokens must not fail because bookkeeping could not be written.
        try:
            await self.flush()
        except StoreError as exc:
            log.warning("could not record client use (will retry): %s", exc)

    async def close(self) -> None:
        """Wait for a background flush, then write what is left (``Authward.close()``)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
