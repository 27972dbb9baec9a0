"""``JobsRuntime`` (``aw.jobs``): binds JobClients to the runs' store, queues runs on the engine
(DBOS, engine.py), executes them when this process is a worker, runs the scheduler, and answers
the dashboard's, CLI's and management API's reads.

It is built from its ports (:class:`~authward.jobs.ports.JobPorts`), never from the runtime."""

from __future__ import annotations

__all__ = ["JobsRuntime"]

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from authward.config.auth import Invoker
from authward.errors import ConfigError
from authward.jobs._sql import Writer
from authward.jobs.client import Job, JobClient
from authward.jobs.dynamic import DynamicSchedule
from authward.jobs.dynamic_trigger import DynamicTrigger
from authward.jobs.engine import Engine, EngineConfig
from authward.jobs.errors import UnknownJob
from authward.jobs.events import (
    Identity,
    check_account,
    checked_event,
    current_identity,
    event_timestamp,
    json_payload,
    payload_for,
    warn_unheard,
)
from authward.jobs.executor import Executor, Sleeper, Slots
from authward.jobs.identity import invoker_principal, principal_to_json
from authward.jobs.liveness import Liveness
from authward.jobs.ports import JobPorts
from authward.jobs.records import (
    JobInfo,
    NewRun,
    RunDetail,
    RunSummary,
    ScheduleInfo,
    SentEvent,
)
from authward.jobs.schedule_store import ScheduleStore
from authward.jobs.scheduler import Scheduler
from authward.jobs.store import RunStore
from authward.jobs.triggers import CronTrigger, EventTrigger, IntervalTrigger
from authward.jobs.webhook_store import WebhookStore
from authward.observability.tracing import queuing_context
from authward.store.engine import jobs_system_url
from authward.store.job_workers import WorkerRecords

log = logging.getLogger("authward.jobs")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class JobsRuntime:
    def __init__(
        self,
        ports: JobPorts,
        clients: Iterable[JobClient] = (),
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.ports = ports
        self.clock = clock or _utcnow
        settings = ports.settings
        self.settings = settings
        self.poll_seconds = settings.poll_seconds
        self.environment = settings.environment
        engine = ports.engine
        self.store = RunStore(Writer(engine))
        self.schedules = ScheduleStore(self.store)
        self.clients: dict[str, JobClient] = {}
        self.jobs: dict[str, Job] = {}
        self.dynamic_schedules: dict[str, DynamicSchedule] = {}
        self.dynamic_triggers: dict[str, DynamicTrigger] = {}
        #: Dynamic triggers' webhook registrations (docs/dynamic-triggers.md).
        self.webhooks = WebhookStore(
            self.store.writer, ports.sealer, refresh_seconds=settings.refresh_seconds
        )
        self.worker_id = settings.worker_id or socket.gethostname()
        self.engine = Engine(
            EngineConfig(
                system_url=jobs_system_url(engine.url),
                executor_id=self.worker_id,
                app_version="authward-1",
                poll_seconds=settings.poll_seconds,
                held=settings.concurrency * 10,
            )
        )
        self.slots = Slots(settings.concurrency)
        #: How often a run executing here looks for a cancel made in another process.
        self.cancel_check_seconds = settings.recovery_seconds / 6
        self.sleeper = Sleeper(self.clock)
        self.executor = Executor(self, self.slots)
        self.liveness = Liveness(
            records=WorkerRecords(engine),
            engine=self.engine,
            runs=self.store,
            worker_id=self.worker_id,
            recovery_seconds=settings.recovery_seconds,
            rejoin=self._rejoin,
        )
        self.scheduler = Scheduler(self)
        self._started = False
        #: Event names sent here that no job listens to (each logged once).
        self._unheard: set[str] = set()
        self.bind(clients)

    # -- binding and lifecycle --------------------------------------------------------------

    def bind(self, clients: Iterable[JobClient]) -> None:
        """Make these clients' jobs runnable here. Job ids and dynamic schedule ids are unique
        across every client of one runtime (runs and schedules are stored by them)."""
        clients = [c for c in clients if self.clients.get(c.id) is not c]
        jobs = dict(self.jobs)
        dynamic = dict(self.dynamic_schedules)
        triggers = dict(self.dynamic_triggers)
        for client in clients:
            if client.id in self.clients:
                raise ConfigError(f"two job clients have the id {client.id!r}", path="JobClient.id")
            for job_id, job in client.jobs.items():
                if job_id in jobs:
                    raise ConfigError(
                        f"job {job_id!r} is defined by clients {jobs[job_id].client.id!r} "
                        f"and {client.id!r}",
                        path=f"jobs.{job_id}",
                    )
                jobs[job_id] = job
            for dyn_id, schedule in client.dynamic_schedules.items():
                if dyn_id in dynamic:
                    raise ConfigError(
                        f"dynamic schedule {dyn_id!r} is defined by two clients",
                        path=f"dynamic_schedules.{dyn_id}",
                    )
                dynamic[dyn_id] = schedule
            for trigger_id, trigger in client.dynamic_triggers.items():
                if trigger_id in triggers:
                    raise ConfigError(
                        f"dynamic trigger {trigger_id!r} is defined by two clients",
                        path=f"dynamic_triggers.{trigger_id}",
                    )
                triggers[trigger_id] = trigger
        for client in clients:
            self.clients[client.id] = client
            client._runtime = self
        self.jobs, self.dynamic_schedules, self.dynamic_triggers = jobs, dynamic, triggers

    async def start(self, *, worker: bool = True, scheduler: bool = True) -> None:
        """Write the jobs' own schedules, then execute and schedule runs in this process."""
        now = self.clock()
        for job in self.jobs.values():
            if isinstance(job.trigger_spec, IntervalTrigger | CronTrigger):
                await self.schedules.put(
                    key=f"job:{job.id}",
                    client_id=job.client.id,
                    job_id=job.id,
                    spec=job.trigger_spec.spec,
                    now=now,
                    replace=False,
                )
        if worker:
            await self.liveness.register()
            await self.engine.launch(self.executor.execute)
            await self.liveness.start()
        if scheduler:
            await self.scheduler.start()
        self._started = True

    async def _stop_executing(self) -> None:
        """Interrupt the runs executing here (they stay pending in the engine) and stop it."""
        for task in list(self.executor.workflows):
            task.cancel()
        await asyncio.gather(*self.executor.workflows, return_exceptions=True)
        await self.engine.shutdown()

    async def _rejoin(self) -> None:
        """This worker was taken for dead and its runs recovered elsewhere: stop executing
        them, then join again as a new start of the same worker id."""
        await self._stop_executing()
        await self.liveness.register()
        await self.engine.launch(self.executor.execute)

    async def stop(self) -> None:
        """Stop scheduling and executing; runs in flight go back to the queue."""
        await self.scheduler.stop()
        if self.engine.launched:
            await self.liveness.stop()
            await self._stop_executing()
            await self.liveness.release()
        await self.executor.stop_replays()
        self._started = False

    async def close(self) -> None:
        await self.stop()
        await self.engine.close()
        for client in self.clients.values():
            if client._runtime is self:
                client._runtime = None

    def wake(self) -> None:
        """Look at the clock again: waits that are due end, due schedules fire (after a test
        moved its clock, say)."""
        self.sleeper.wake()
        self.scheduler.wake()

    # -- queueing runs ----------------------------------------------------------------------

    def new_run(
        self,
        job: Job,
        payload: Any,
        *,
        account_id: str | None,
        identity: Identity,
        event_id: str | None,
        event_name: str,
        event_timestamp: datetime,
        now: datetime,
        run_id: str | None = None,
    ) -> NewRun:
        run_id = run_id or f"run_{uuid.uuid4().hex}"
        traceparent, tracestate = queuing_context()  # the trace its executions continue
        return NewRun(
            id=run_id,
            job_id=job.id,
            job_version=job.version,
            client_id=job.client.id,
            payload=payload,
            account_id=account_id,
            invoker=identity[0],
            principal=identity[1],
            event_id=event_id,
            event_name=event_name,
            event_timestamp=event_timestamp,
            environment=self.environment,
            created_at=now,
            traceparent=traceparent,
            tracestate=tracestate,
        )

    async def send_event(
        self, event: Mapping[str, Any], *, account_id: str | None = None
    ) -> SentEvent:
        name, event_id = checked_event(event)
        account_id = check_account(account_id)
        now = self.clock()
        timestamp = event_timestamp(event.get("timestamp"), now)
        raw = json_payload(event.get("payload"))
        listeners = [
            job
            for job in self.jobs.values()
            if isinstance(job.trigger_spec, EventTrigger) and job.trigger_spec.name == name
        ]
        if not listeners:
            self._no_listener(name)
        payloads = {job.id: payload_for(job, raw) for job in listeners}
        identity = current_identity()
        runs = [
            self.new_run(
                job,
                payloads[job.id],
                account_id=account_id,
                identity=identity,
                event_id=event_id,
                event_name=name,
                event_timestamp=timestamp,
                now=now,
            )
            for job in listeners
        ]
        row = {
            "id": event_id,
            "name": name,
            "payload": raw,
            "account_id": account_id,
            "timestamp": timestamp,
            "received_at": now,
        }
        outcome = await self.store.record_event(row, runs)
        if not outcome[0]:
            await self.hand_over([r.id for r in runs])
        duplicate, run_ids = outcome
        return SentEvent(event_id, name, run_ids, duplicate)

    def _no_listener(self, name: str) -> None:
        if name not in self._unheard:
            self._unheard.add(name)
            warn_unheard(name, self.jobs.values())

    async def hand_over(self, run_ids: list[str]) -> None:
        """Get stored runs started: here at once while this process executes runs and has free
        slots, otherwise on the engine's queue for any worker. If this process dies before
        that, the liveness sweep hands them over (liveness.py)."""
        if not run_ids:
            return
        if self.engine.launched:
            here = run_ids[: self.slots.promise(run_ids)]
            for run_id in here:
                await self.engine.start_here(run_id)
            run_ids = run_ids[len(here) :]
        if run_ids:
            await self.engine.open()
            await self.engine.enqueue(run_ids)

    async def _start_run(
        self, job: Job, payload: Any, account_id: str | None, identity: Identity, event_name: str
    ) -> str:
        account_id = check_account(account_id)
        now = self.clock()
        run = self.new_run(
            job,
            payload_for(job, payload),
            account_id=account_id,
            identity=identity,
            event_id=None,
            event_name=event_name,
            event_timestamp=now,
            now=now,
        )

        await self.store.insert_runs([run])
        await self.hand_over([run.id])
        return run.id

    def _job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            known = ", ".join(sorted(self.jobs)) or "none are bound"
            raise UnknownJob(f"no job {job_id!r} (known: {known})")
        return job

    async def trigger_job(
        self,
        job: Job,
        payload: Any,
        *,
        auth_invoker: Invoker | None = None,
        account_id: str | None = None,
    ) -> str:
        if self.jobs.get(job.id) is not job:
            raise UnknownJob(f"job {job.id!r} is not bound to this runtime")
        identity: Identity = current_identity()
        if auth_invoker is not None:
            if not isinstance(auth_invoker, Invoker):
                raise ConfigError("must be auth.invoker('machine-user-name')", path="auth_invoker")
            invoker, principal = await invoker_principal(
                self.ports.machine_users, self.settings.auth_name, auth_invoker
            )
            identity = (invoker, principal_to_json(principal))
        return await self._start_run(job, payload, account_id, identity, "invoke")

    async def test_job(self, job_id: str, payload: Any, *, account_id: str | None = None) -> str:
        """Start a run of ``job_id`` now, whatever its trigger (the dashboard's "test")."""
        job = self._job(job_id)
        return await self._start_run(job, payload, account_id, current_identity(), "test")

    async def cancel_run(self, run_id: str) -> bool:
        if not await self.store.cancel(run_id, self.clock()):
            return False
        self.executor.interrupt(run_id)
        await self.engine.open()
        await self.engine.cancel(run_id)  # stops it at its next task wherever it executes
        return True

    # -- dynamic schedules ------------------------------------------------------------------

    def jobs_for_schedule(self, job_id: str | None, dynamic_id: str | None) -> list[Job]:
        if job_id is not None:
            return [self.jobs[job_id]] if job_id in self.jobs else []
        return [
            j
            for j in self.jobs.values()
            if isinstance(j.trigger_spec, DynamicSchedule) and j.trigger_spec.id == dynamic_id
        ]

    def scheduled_job_ids(self) -> list[str]:
        return [
            j.id
            for j in self.jobs.values()
            if isinstance(j.trigger_spec, IntervalTrigger | CronTrigger)
        ]

    def used_dynamic_schedule_ids(self) -> list[str]:
        return sorted(
            {
                j.trigger_spec.id
                for j in self.jobs.values()
                if isinstance(j.trigger_spec, DynamicSchedule)
            }
        )

    # -- dynamic triggers -------------------------------------------------------------------

    def jobs_for_trigger(self, dynamic_trigger_id: str) -> list[Job]:
        return [
            j
            for j in self.jobs.values()
            if isinstance(j.trigger_spec, DynamicTrigger)
            and j.trigger_spec.id == dynamic_trigger_id
        ]

    async def start_trigger_runs(
        self,
        trigger: DynamicTrigger,
        payload: Any,
        *,
        registration_id: str,
        account_id: str | None,
        delivery_id: str,
        event: str,
    ) -> tuple[bool, tuple[str, ...]]:
        """Queue a run of every job on ``trigger`` for one webhook delivery, as ``send_event``
        does, once per delivery id: returns (duplicate, run ids).

        ``payload`` is the delivery's body as ``json.loads`` returned it (without NaN or
        Infinity), so it is stored as it is, not serialised and parsed again."""
        now = self.clock()
        runs = [
            self.new_run(
                job,
                payload,
                account_id=account_id,
                identity=(None, None),
                event_id=delivery_id,
                event_name=trigger.event.describe(),
                event_timestamp=now,
                now=now,
            )
            for job in self.jobs_for_trigger(trigger.id)
        ]
        delivery = {
            "registration_id": registration_id,
            "delivery_id": delivery_id,
            "event": event,
            "received_at": now,
            "run_ids": [r.id for r in runs],
        }
        outcome: tuple[bool, tuple[str, ...]] = (False, tuple(r.id for r in runs))

        async with self.store.writer.transaction() as conn:
            if not await self.webhooks.record_delivery(conn, delivery):
                runs_of = await self.webhooks.delivery_runs(conn, registration_id, delivery_id)
                return True, runs_of
            await self.store.insert_runs(runs, conn)
        await self.hand_over([r.id for r in runs])
        return outcome

    # -- reads ------------------------------------------------------------------------------

    def list_jobs(self) -> list[JobInfo]:
        return [
            JobInfo(
                id=job.id,
                name=job.name,
                version=job.version,
                client_id=job.client.id,
                trigger=job.describe_trigger(),
                event_name=(
                    job.trigger_spec.name if isinstance(job.trigger_spec, EventTrigger) else None
                ),
            )
            for job in sorted(self.jobs.values(), key=lambda j: (j.client.id, j.id))
        ]

    async def list_runs(
        self,
        *,
        account_id: str | None = None,
        job_id: str | None = None,
        status: str | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[RunSummary]:
        """Runs, newest first; ``after`` (a run's ``created_at`` and id): those older than it,
        the next page."""
        return await self.store.list_runs(
            account_id=account_id, job_id=job_id, status=status, after=after, limit=limit
        )

    async def get_run(self, run_id: str) -> RunDetail | None:
        return await self.store.get_run(run_id)

    async def list_schedules(self, dynamic_schedule_id: str | None = None) -> list[ScheduleInfo]:
        return await self.schedules.list(dynamic_schedule_id)
