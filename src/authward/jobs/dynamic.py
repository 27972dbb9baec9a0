"""Dynamic schedules: a job's trigger whose schedules are registered at run time, each with its
own account id (the seed's ``defineDynamicSchedule``)."""

from __future__ import annotations

__all__ = ["DynamicSchedule", "ScheduleRegistration"]

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from authward.errors import ConfigError
from authward.jobs.cron import parse_schedule
from authward.jobs.errors import EventRejected
from authward.jobs.events import check_account
from authward.jobs.io import current_io

if TYPE_CHECKING:
    from authward.jobs.client import JobClient
    from authward.jobs.runtime import JobsRuntime


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
            return await self._put(runtime, schedule_id, registration)
        info: dict[str, Any] = await io.run_task(
            f"register:{self.id}:{schedule_id}",
            lambda: self._put(runtime, schedule_id, registration),
            name="register schedule",
        )
        return info

    async def unregister(self, schedule_id: str) -> bool:
        """Remove the schedule; False when there was none. Inside a run: a task."""
        schedule_id = check_schedule_id(schedule_id)
        runtime = self.client.bound_runtime()
        io = current_io.get()
        if io is None:
            return await runtime.schedules.delete(self._key(schedule_id))
        removed: bool = await io.run_task(
            f"unregister:{self.id}:{schedule_id}",
            lambda: runtime.schedules.delete(self._key(schedule_id)),
            name="unregister schedule",
        )
        return removed

    def _key(self, schedule_id: str) -> str:
        return f"dyn:{self.id}:{schedule_id}"

    async def _put(
        self, runtime: JobsRuntime, schedule_id: str, registration: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not runtime.jobs_for_schedule(None, self.id):
            raise ConfigError(
                f"no job uses dynamic schedule {self.id!r} as its trigger: define one with "
                f"trigger={self.id.replace('-', '_')} before registering schedules on it",
                path=f"dynamic_schedules.{self.id}",
            )
        if not isinstance(registration, Mapping):
            raise ConfigError("must be a mapping with type, options, account_id", path="schedule")
        unknown = sorted(set(registration) - {"type", "options", "account_id"})
        if unknown:
            raise ConfigError("unknown field (known: type, options, account_id)", path=unknown[0])
        spec = parse_schedule(registration.get("type"), registration.get("options"))
        try:
            account_id = check_account(registration.get("account_id"))
        except EventRejected as exc:
            raise ConfigError(str(exc), path="account_id") from None
        now = runtime.clock()
        await runtime.schedules.put(
            key=self._key(schedule_id),
            client_id=self.client.id,
            spec=spec,
            now=now,
            dynamic_schedule_id=self.id,
            schedule_id=schedule_id,
            account_id=account_id,
        )
        runtime.scheduler.wake()
        return {
            "id": schedule_id,
            "dynamic_schedule_id": self.id,
            "type": spec.type,
            "options": spec.options(),
            "account_id": account_id,
            "next_at": spec.next_after(now, now).isoformat(),
        }
