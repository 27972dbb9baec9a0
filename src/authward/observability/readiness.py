"""What ``/readyz`` asks each part, and what ``/metrics`` asks the job engine.

Each check answers ``None`` when ready, or one line saying what is wrong (never a secret, a URL
with a password or a traceback). The job engine implements :class:`JobEngineProbe`; whichever
engine runs jobs (decision 046) keeps the same two methods."""

from __future__ import annotations

__all__ = ["Check", "JobEngineProbe", "run_checks"]

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

Check = Callable[[], Awaitable[str | None]]


class JobEngineProbe(Protocol):
    async def ready(self) -> str | None:
        """``None`` while the engine can execute runs; else what stopped."""
        ...

    async def queue_depth(self) -> int | None:
        """Runs waiting for a worker now, or ``None`` when unknown."""
        ...


async def _guarded(check: Check, seconds: float) -> str | None:
    try:
        async with asyncio.timeout(seconds):
            return await check()
    except TimeoutError:
        return f"no answer within {seconds:g}s"
    except Exception as exc:
        return f"failed ({type(exc).__name__})"


async def run_checks(checks: Mapping[str, Check], seconds: float = 5.0) -> dict[str, str | None]:
    """Every check at once; a check that raises or hangs is a failed one."""
    names = list(checks)
    results = await asyncio.gather(*(_guarded(checks[n], seconds) for n in names))
    return dict(zip(names, results, strict=True))
