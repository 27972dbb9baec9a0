"""How a task is retried: a frozen, declarative policy (attempt count and exponential backoff)."""

from __future__ import annotations

__all__ = ["RetryPolicy"]

from dataclasses import dataclass

from authward.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``limit`` attempts in all; attempt *n* failing waits
    ``min(max_seconds, min_seconds * factor ** (n - 1))`` before the next one."""

    limit: int = 1
    factor: float = 2.0
    min_seconds: float = 1.0
    max_seconds: float = 600.0

    def __post_init__(self) -> None:
        problems = {
            "limit": self.limit < 1,
            "factor": self.factor < 1,
            "min_seconds": self.min_seconds < 0,
            "max_seconds": self.max_seconds < self.min_seconds,
        }
        wrong = [name for name, bad in problems.items() if bad]
        if wrong:
            raise ConfigError(
                "limit must be >= 1, factor >= 1, 0 <= min_seconds <= max_seconds",
                path=f"retry.{wrong[0]}",
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after attempt number ``attempt`` (from 1) failed."""
        return float(min(self.max_seconds, self.min_seconds * self.factor ** (attempt - 1)))
