"""Dynamic schedules: a job's trigger whose schedules are registered at run time, each with its
own account id (the seed's ``defineDynamicSchedule``)."""

from __future__ import annotations

__all__ = ["DynamicSchedule", "ScheduleRegistration"]

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from authward.errors import ConfigError
from authward.jobs.io import current_io

if TYPE_CHECKING:
    from authward.jobs.client import JobClient


class ScheduleRegistration(TypedDict):
    type: Literal["interval", "cron"]
    options: Mapping[str, Any]
    account_id: NotRequired[str | None]


def check_schedule_id(schedule_id: object) -> str:
    if not isinstance(schedule_id, str) or not schedule_id or len(schedule_id) > 200:
        raise ConfigError("must be a non-empty string of 200 characters at most", "schedule_id")
    return schedule_id


class DynamicSchedule:
    def __init__(self, client: JobClient, id: str) -> None:
        self.client = client
        self.id = id

    def describe(self) -> str:
        return f"dynamic schedule {self.id}"

    async def register(
        self, schedule_id: str, registration: ScheduleRegistration | Mapping[str, Any]
    ) -> dict[str, Any]:
        """Create or replace the schedule ``schedule_id``; its runs carry ``account_id``.

        Inside a run this is a task keyed ``register:<dynamic id>:<schedule id>``."""
        schedule_id = check_schedule_id(schedule_id)
        runtime = self.client.bound_runtime()
        io = current_io.get()
        if io is None:
            return await runtime.register_schedule(self, schedule_id, registration)
        info: dict[str, Any] = await io.run_task(
            f"register:{self.id}:{schedule_id}",
            lambda: runtime.register_schedule(self, schedule_id, registration),
            name="register schedule",
        )
        return info

    async def unregister(self, schedule_id: str) -> bool:
        """Remove the schedule; False when there was none. Inside a run: a task."""
        schedule_id = check_schedule_id(schedule_id)
        runtime = self.client.bound_runtime()
        io = current_io.get()
        if io is None:
            return await runtime.unregister_schedule(self, schedule_id)
        removed: bool = await io.run_task(
            f"unregister:{self.id}:{schedule_id}",
            lambda: runtime.unregister_schedule(self, schedule_id),
            name="unregister schedule",
        )
        return removed
