"""When each declared OAuth client and machine user last got a token (issue 17).

The token endpoint is a hot path: a success is recorded in memory, and the uses are written in
one forward-only batch at most every ``interval`` seconds (in the background) and on close,
as API keys do with their ``last_used_at``. A crash loses at most one interval of uses.
"""

from __future__ import annotations

__all__ = ["LastUseStorePort", "LastUses"]

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from authward.uses import UseRecorder

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
        self._uses: UseRecorder[tuple[str, str]] = UseRecorder(
            store.record_uses,
            interval=interval,
            what="client",
            clock=clock,
            # The first batch is written an interval after start, not at the first token: a
            # process's first token requests write nothing.
            first_after_interval=True,
        )

    def record(self, kind: str, client_id: str) -> None:
        """Tokens were issued to the client ``client_id`` of ``kind``; no I/O here."""
        if kind in _KINDS:
            self._uses.record((kind, client_id))
            self._uses.flush_in_background()

    async def flush(self) -> int:
        """Write the recorded uses in one batch; how many."""
        return await self._uses.flush()

    async def close(self) -> None:
        """Wait for a background flush, then write what is left (``Authward.close()``)."""
        await self._uses.close()
