"""``JobClient`` and ``Job``: jobs defined at import time in the app module, run once a runtime
binds the client (``authward serve`` / ``authward worker`` do it; tests call ``aw.jobs.bind``)."""

from __future__ import annotations

__all__ = ["Job", "JobClient", "RunFunction", "Trigger"]

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from authward.config.app import Config
from authward.config.auth import Invoker
from authward.errors import ConfigError
from authward.jobs.context import RunContext
from authward.jobs.credentials import AuthResolver, ResolverEntry
from authward.jobs.dynamic import DynamicSchedule
from authward.jobs.dynamic_trigger import DynamicTrigger, TriggerEvent, WebhookSource
from authward.jobs.errors import JobsNotBound
from authward.jobs.io import Integration, Io
from authward.jobs.records import SentEvent
from authward.jobs.retry import RetryPolicy
from authward.jobs.triggers import CronTrigger, EventTrigger, IntervalTrigger

if TYPE_CHECKING:
    from authward.jobs.runtime import JobsRuntime

RunFunction = Callable[[Any, Io, RunContext], Awaitable[Any]]
Trigger = EventTrigger | IntervalTrigger | CronTrigger | DynamicSchedule | DynamicTrigger
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")


def _check_id(value: object, path: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ConfigError(
            "must be 1-200 characters: letters, digits, '.', '_', ':', '-' (not first)", path=path
        )
    return value


@dataclass(eq=False)
class Job:
    client: JobClient
    id: str
    name: str
    version: str
    #: What starts the job's runs (``define_job(trigger=...)``); ``trigger()`` starts one now.
    trigger_spec: Trigger
    run: RunFunction
    integrations: Mapping[str, Integration] = field(default_factory=dict)
    timeout_seconds: float = 600.0
    #: Default retry policy of this job's tasks (``io.run_task(retry=...)`` overrides it).
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def describe_trigger(self) -> str:
        return self.trigger_spec.describe()

    async def trigger(
        self,
        payload: Any = None,
        *,
        auth_invoker: Invoker | None = None,
        account_id: str | None = None,
    ) -> str:
        """Start one run of this job now and return its id (the seed's ``workflow.trigger``);
        ``auth_invoker=auth.invoker("name")`` makes the run act as that machine user."""
        return await self.client.bound_runtime().trigger_job(
            self, payload, auth_invoker=auth_invoker, account_id=account_id
        )


class JobClient:
    """A namespace of jobs (the seed's ``TriggerClient``)."""

    def __init__(self, *, id: str, config: Config | None = None) -> None:
        self.id = _check_id(id, "JobClient.id")
        self.config = config
        self.jobs: dict[str, Job] = {}
        self.dynamic_schedules: dict[str, DynamicSchedule] = {}
        self.dynamic_triggers: dict[str, DynamicTrigger] = {}
        #: Integration id -> its auth resolver (``define_auth_resolver``).
        self.auth_resolvers: dict[str, ResolverEntry] = {}
        #: Integration id -> the integration, across this client's jobs and resolvers: one id
        #: names one integration (its runs' credentials and lineage are recorded by id).
        self.integrations: dict[str, Integration] = {}
        self._runtime: JobsRuntime | None = None

    def __repr__(self) -> str:
        return f"JobClient(id={self.id!r}, jobs={sorted(self.jobs)})"

    def define_job(
        self,
        *,
        id: str,
        name: str,
        version: str,
        trigger: Trigger,
        run: RunFunction,
        integrations: Mapping[str, Integration] | None = None,
        timeout_seconds: float = 600.0,
        retry: RetryPolicy | None = None,
    ) -> Job:
        path = f"jobs.{id}"
        _check_id(id, f"{path}.id" if isinstance(id, str) else "jobs.id")
        if id in self.jobs:
            raise ConfigError(
                f"job {id!r} is defined twice in client {self.id!r}; job ids are unique",
                path=path,
            )
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("must be a non-empty string", path=f"{path}.name")
        if not isinstance(version, str) or not version.strip() or len(version) > 64:
            raise ConfigError("must be a non-empty string (e.g. '1.0.0')", path=f"{path}.version")
        if not isinstance(
            trigger, EventTrigger | IntervalTrigger | CronTrigger | DynamicSchedule | DynamicTrigger
        ):
            raise ConfigError(
                "must be event_trigger(...), interval_trigger(...), cron_trigger(...), "
                "a dynamic schedule or a dynamic trigger",
                path=f"{path}.trigger",
            )
        if isinstance(trigger, DynamicSchedule | DynamicTrigger) and trigger.client is not self:
            kind = "schedule" if isinstance(trigger, DynamicSchedule) else "trigger"
            raise ConfigError(
                f"dynamic {kind} {trigger.id!r} belongs to client {trigger.client.id!r}",
                path=f"{path}.trigger",
            )
        if not inspect.iscoroutinefunction(run):
            raise ConfigError("must be an async function run(payload, io, ctx)", path=f"{path}.run")
        for key, integration in (integrations or {}).items():
            if not isinstance(integration, Integration):
                raise ConfigError(
                    "an integration needs an `id` and `bind(io, ctx)`",
                    path=f"{path}.integrations.{key}",
                )
            self._check_integration(integration, f"{path}.integrations.{key}")
        if not timeout_seconds > 0:
            raise ConfigError("must be positive", path=f"{path}.timeout_seconds")
        for integration in (integrations or {}).values():
            self.integrations[integration.id] = integration
        job = Job(
            client=self,
            id=id,
            name=name,
            version=version,
            trigger_spec=trigger,
            run=run,
            integrations=dict(integrations or {}),
            timeout_seconds=float(timeout_seconds),
            retry=retry or RetryPolicy(),
        )
        self.jobs[id] = job
        return job

    def job(
        self,
        *,
        id: str,
        name: str,
        version: str,
        trigger: Trigger,
        integrations: Mapping[str, Integration] | None = None,
        timeout_seconds: float = 600.0,
        retry: RetryPolicy | None = None,
    ) -> Callable[[RunFunction], Job]:
        """``@client.job(...)`` above ``async def run(payload, io, ctx)``: the name is the Job."""

        def define(run: RunFunction) -> Job:
            return self.define_job(
                id=id,
                name=name,
                version=version,
                trigger=trigger,
                run=run,
                integrations=integrations,
                timeout_seconds=timeout_seconds,
                retry=retry,
            )

        return define

    def _check_integration(self, integration: Integration, path: str) -> None:
        known = self.integrations.get(integration.id)
        if known is not None and known is not integration:
            raise ConfigError(
                f"integration id {integration.id!r} is already used by another integration in "
                f"client {self.id!r}; give each integration its own id (e.g. 'byo-slack', "
                "'our-slack')",
                path=path,
            )

    def define_auth_resolver(
        self, integration: Integration, fn: AuthResolver, *, timeout_seconds: float = 10.0
    ) -> None:
        """Give ``integration`` the credentials ``await fn(ctx, integration)`` returns for each
        run: an ``AuthResolverResult``, or ``None`` to fail the run with "Unresolved auth"."""
        path = "auth_resolver"
        if not isinstance(integration, Integration):
            raise ConfigError("must be an integration (Slack(id=...), Github(id=...))", path=path)
        path = f"auth_resolvers.{integration.id}"
        self._check_integration(integration, path)
        if integration.id in self.auth_resolvers:
            raise ConfigError(
                f"integration {integration.id!r} already has an auth resolver in client "
                f"{self.id!r}",
                path=path,
            )
        if not inspect.iscoroutinefunction(fn):
            raise ConfigError("must be an async function fn(ctx, integration)", path=f"{path}.fn")
        if not timeout_seconds > 0:
            raise ConfigError("must be positive", path=f"{path}.timeout_seconds")
        self.integrations[integration.id] = integration
        self.auth_resolvers[integration.id] = ResolverEntry(integration, fn, float(timeout_seconds))

    def auth_resolver(
        self, integration: Integration, *, timeout_seconds: float = 10.0
    ) -> Callable[[AuthResolver], AuthResolver]:
        """``@client.auth_resolver(byo_slack)`` above ``async def resolve(ctx, integration)``."""

        def define(fn: AuthResolver) -> AuthResolver:
            self.define_auth_resolver(integration, fn, timeout_seconds=timeout_seconds)
            return fn

        return define

    def define_dynamic_schedule(self, *, id: str) -> DynamicSchedule:
        _check_id(id, "dynamic_schedule.id")
        if id in self.dynamic_schedules:
            raise ConfigError(
                f"dynamic schedule {id!r} is defined twice in client {self.id!r}",
                path=f"dynamic_schedules.{id}",
            )
        schedule = DynamicSchedule(self, id)
        self.dynamic_schedules[id] = schedule
        return schedule

    def define_dynamic_trigger(
        self, *, id: str, event: TriggerEvent, source: WebhookSource
    ) -> DynamicTrigger:
        """A job trigger whose webhooks are registered at run time, one per key, each with an
        account's credentials: ``event=github_events.on_issue_opened, source=github.sources.repo``
        (docs/dynamic-triggers.md)."""
        path = f"dynamic_triggers.{id}"
        _check_id(id, "dynamic_trigger.id")
        if id in self.dynamic_triggers:
            raise ConfigError(
                f"dynamic trigger {id!r} is defined twice in client {self.id!r}", path
            )
        if not isinstance(event, TriggerEvent):
            raise ConfigError("must be a webhook event, e.g. github events.on_issue_opened", path)
        if not isinstance(source, WebhookSource):
            raise ConfigError("must be a webhook source, e.g. github.sources.repo", path)
        if event.provider != getattr(source.integration, "provider", event.provider):
            raise ConfigError(
                f"the event is a {event.provider} event but the source is {source.name}", path
            )
        self._check_integration(source.integration, f"{path}.source")
        self.integrations[source.integration.id] = source.integration
        trigger = DynamicTrigger(self, id, event, source)
        self.dynamic_triggers[id] = trigger
        return trigger

    async def send_event(
        self, event: Mapping[str, Any], *, account_id: str | None = None
    ) -> SentEvent:
        """Start a run of every job listening to ``event["name"]`` (see docs/jobs.md)."""
        return await self.bound_runtime().send_event(event, account_id=account_id)

    def bound_runtime(self) -> JobsRuntime:
        if self._runtime is None:
            raise JobsNotBound(self.id)
        return self._runtime
