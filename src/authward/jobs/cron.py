"""Occurrence arithmetic for interval and cron schedules (5-field cron, time-zone aware)."""

from __future__ import annotations

__all__ = ["ScheduleSpec", "parse_schedule"]

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter  # type: ignore[import-untyped]

from authward.errors import ConfigError

MIN_INTERVAL_SECONDS = 60
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """An interval counts from an anchor (when the schedule was created or re-registered); a cron
    expression is evaluated on the wall clock of ``timezone``."""

    type: Literal["interval", "cron"]
    seconds: int = 0
    cron: str = ""
    timezone: str = "UTC"

    def options(self) -> dict[str, Any]:
        if self.type == "interval":
            return {"seconds": self.seconds}
        return {"cron": self.cron, "timezone": self.timezone}

    def describe(self) -> str:
        if self.type == "interval":
            return f"interval {self.seconds}s"
        return f"cron {self.cron} ({self.timezone})"

    def next_after(self, after: datetime, anchor: datetime) -> datetime:
        """The first occurrence strictly after ``after``."""
        if self.type == "interval":
            step = timedelta(seconds=self.seconds)
            if after < anchor:
                return anchor + step
            return anchor + step * (math.floor((after - anchor) / step) + 1)
        zone = ZoneInfo(self.timezone)
        nxt: datetime = croniter(self.cron, after.astimezone(zone)).get_next(datetime)
        return nxt.astimezone(UTC)

    def latest_at_or_before(self, at: datetime, anchor: datetime) -> datetime | None:
        """The last occurrence at or before ``at`` that is after ``anchor``."""
        if self.type == "interval":
            step = timedelta(seconds=self.seconds)
            count = math.floor((at - anchor) / step)
            return anchor + step * count if count >= 1 else None
        zone = ZoneInfo(self.timezone)
        prev: datetime = croniter(self.cron, (at + _TICK).astimezone(zone)).get_prev(datetime)
        prev = prev.astimezone(UTC)
        return prev if prev > anchor else None


def _interval(options: Mapping[str, Any], path: str) -> ScheduleSpec:
    seconds = options.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds != int(seconds):
        raise ConfigError("must be a whole number of seconds", path=f"{path}.seconds")
    if seconds < MIN_INTERVAL_SECONDS:
        raise ConfigError(
            f"must be at least {MIN_INTERVAL_SECONDS} (got {int(seconds)})", path=f"{path}.seconds"
        )
    return ScheduleSpec("interval", seconds=int(seconds))


def _cron(options: Mapping[str, Any], path: str) -> ScheduleSpec:
    expr = options.get("cron")
    if not isinstance(expr, str) or len(expr.split()) != 5:
        raise ConfigError(
            "must be a cron expression of five fields (minute hour day month weekday)",
            path=f"{path}.cron",
        )
    if not croniter.is_valid(expr):
        raise ConfigError(f"{expr!r} is not a valid cron expression", path=f"{path}.cron")
    zone = options.get("timezone", "UTC")
    try:
        if not isinstance(zone, str):
            raise ValueError
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        raise ConfigError(
            f"{zone!r} is not an IANA time zone (e.g. UTC, Europe/Paris)", path=f"{path}.timezone"
        ) from None
    return ScheduleSpec("cron", cron=" ".join(expr.split()), timezone=zone)


def parse_schedule(type_: object, options: object, path: str = "options") -> ScheduleSpec:
    """Check a schedule's type and options; a mistake is a ConfigError naming the field."""
    if not isinstance(options, Mapping):
        raise ConfigError("must be a mapping", path=path)
    allowed = {"interval": {"seconds"}, "cron": {"cron", "timezone"}}
    if type_ not in allowed:
        raise ConfigError(f"must be 'interval' or 'cron' (got {type_!r})", path="type")
    unknown = sorted(set(options) - allowed[str(type_)])
    if unknown:
        raise ConfigError(f"unknown option for {type_}", path=f"{path}.{unknown[0]}")
    return _interval(options, path) if type_ == "interval" else _cron(options, path)
