"""What starts a job's runs: an event, an interval, a cron expression (a dynamic schedule lives in
``dynamic.py``). Each is checked when it is built; a mistake names the field."""

from __future__ import annotations

__all__ = [
    "CronTrigger",
    "EventTrigger",
    "IntervalTrigger",
    "cron_trigger",
    "event_trigger",
    "interval_trigger",
]

from dataclasses import dataclass

from pydantic import BaseModel

from authward.errors import ConfigError
from authward.jobs.cron import ScheduleSpec, parse_schedule


@dataclass(frozen=True, slots=True)
class EventTrigger:
    name: str
    schema: type[BaseModel] | None = None

    def describe(self) -> str:
        return f"event {self.name}"


@dataclass(frozen=True, slots=True)
class IntervalTrigger:
    spec: ScheduleSpec

    def describe(self) -> str:
        return self.spec.describe()


@dataclass(frozen=True, slots=True)
class CronTrigger:
    spec: ScheduleSpec

    def describe(self) -> str:
        return self.spec.describe()


def event_trigger(*, name: str, schema: type[BaseModel] | None = None) -> EventTrigger:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ConfigError("must be a non-empty string of at most 200 characters", path="name")
    if schema is not None and not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise ConfigError("must be a pydantic model class", path="schema")
    return EventTrigger(name, schema)


def interval_trigger(*, seconds: int) -> IntervalTrigger:
    return IntervalTrigger(parse_schedule("interval", {"seconds": seconds}, path="trigger"))


def cron_trigger(*, cron: str, timezone: str = "UTC") -> CronTrigger:
    spec = parse_schedule("cron", {"cron": cron, "timezone": timezone}, path="trigger")
    return CronTrigger(spec)
