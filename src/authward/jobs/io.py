"""``io``: everything a run does that must survive a restart is a task, named by its key.

Each attempt of a task is one step of the run's DBOS workflow (engine.py): a run resumed after
its worker died calls its run function again from the top, and every step that completed returns
its recorded outcome without running again. DBOS matches steps by position, so a run's tasks must
come in the same order every time; the key names the task and is checked against the position.
``io.wait`` and a retry's backoff are durable waits: the time the run is due is recorded as a
step, and the run gives its execution slot back until then.
"""

from __future__ import annotations

__all__ = ["Integration", "Io", "Logger", "current_io", "to_json"]

import asyncio
import functools
import inspect
import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from authward.connections.values import Credentials
from authward.jobs.context import RunContext
from authward.jobs.credentials import resolve_credentials
from authward.jobs.engine import RunCancelled, step
from authward.jobs.errors import (
    JobsError,
    TaskFailed,
    TaskKeyReused,
    TaskOutputError,
    UnresolvedAuthError,
)
from authward.jobs.records import SentEvent, TaskRecord
from authward.jobs.retry import RetryPolicy
from authward.jobs.store import RunStore, StoreInterrupted, connection_lost
from authward.observability.tracing import task_span

if TYPE_CHECKING:
    from authward.jobs.client import Job
    from authward.jobs.executor import Segment
    from authward.jobs.runtime import JobsRuntime

Clock = Callable[[], datetime]
#: A task running this long gets a "running" row, so a dashboard shows it before it ends.
RUNNING_MARK_SECONDS = 0.2

current_io: ContextVar[Io | None] = ContextVar("authward_job_io", default=None)


@runtime_checkable
class Integration(Protocol):
    """What ``define_job(integrations={...})`` accepts (``authward.integrations``: Slack, GitHub).

    ``bind`` is called once per execution of a run when the job touches ``io.<name>``; it returns
    a namespace whose calls are tasks (``authward.integrations.base.Calls`` does that).
    """

    @property
    def id(self) -> str: ...

    def bind(self, io: Io, ctx: RunContext) -> Any: ...


def to_json(value: Any, what: str) -> Any:
    """The JSON round-trip of an output, so a first run and a replay see the same value."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TaskOutputError(
            f"{what} returned a {type(value).__name__}, which cannot be stored ({exc}): "
            "return JSON-serialisable values (dict, list, str, int, float, bool, None) "
            "or a pydantic model"
        ) from None


def _describe_failure(exc: Exception) -> str:
    return str(exc) if isinstance(exc, JobsError) else f"{type(exc).__name__}: {exc}"


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > 200:
        raise JobsError("a task key must be a non-empty string of at most 200 characters")
    return key


class Logger:
    """``io.logger``: messages stored with the run. A replayed run repeats its earlier calls;
    they are recognised by position and not stored twice."""

    def __init__(self, io: Io, already_stored: int) -> None:
        self._io = io
        self._position = 0
        self._stored = already_stored

    async def _log(self, level: str, message: str, data: Any) -> None:
        self._position += 1
        if self._position <= self._stored:
            return
        if data is not None:
            data = json.loads(json.dumps(data, default=str))
        io = self._io
        try:
            await io._store.add_log(io.ctx.id, io._clock(), level, str(message), data)
        except Exception as exc:
            if connection_lost(exc):
                raise StoreInterrupted(str(exc)) from exc
            raise

    async def debug(self, message: str, data: Any = None) -> None:
        await self._log("debug", message, data)

    async def info(self, message: str, data: Any = None) -> None:
        await self._log("info", message, data)

    async def warn(self, message: str, data: Any = None) -> None:
        await self._log("warn", message, data)

    async def error(self, message: str, data: Any = None) -> None:
        await self._log("error", message, data)


class Io:
    def __init__(
        self,
        *,
        runtime: JobsRuntime,
        job: Job,
        ctx: RunContext,
        segment: Segment,
        tasks: dict[str, TaskRecord],
        logs_stored: int,
    ) -> None:
        self._runtime = runtime
        self._store: RunStore = runtime.store
        self._clock: Clock = runtime.clock
        self._job = job
        self.ctx = ctx
        self._segment = segment
        self._tasks = tasks
        self._seq = max((t.seq for t in tasks.values()), default=0)
        self._used: set[str] = set()
        self._bound: dict[str, Any] = {}
        self._credentials: dict[str, asyncio.Task[Credentials]] = {}
        self.logger = Logger(self, logs_stored)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not attributes: the job's integrations.
        integrations = self.__dict__.get("_job") and self._job.integrations
        if not integrations or name not in integrations:
            raise AttributeError(
                f"io has no attribute {name!r}; integrations of this job: "
                f"{', '.join(sorted(integrations or ())) or 'none'}"
            )
        if name not in self._bound:
            self._bound[name] = integrations[name].bind(self, self.ctx)
        return self._bound[name]

    def completed(self, key: str) -> bool:
        """Whether the task ``key`` had its final outcome stored by an earlier execution."""
        task = self._tasks.get(key)
        return task is not None and task.status in ("succeeded", "failed")

    async def credentials(self, integration: Integration) -> Credentials:
        """The credential ``integration`` uses in this run, resolved once per stretch between
        waits (every call of the integration shares one resolution, even concurrent ones)."""
        pending = self._credentials.get(integration.id)
        if pending is None:
            pending = asyncio.ensure_future(
                resolve_credentials(
                    self._runtime.ports.vault,
                    self._job.client.auth_resolvers,
                    integration,
                    self.ctx,
                )
            )
            self._credentials[integration.id] = pending
        return await asyncio.shield(pending)

    async def mark_broken(self, connection_id: str, reason: str) -> None:
        """The provider refused a vault token: reads of its connection fail until it reconnects
        (docs/connected-accounts.md)."""
        await self._runtime.ports.vault.mark_broken(connection_id, reason)

    async def unresolved(self, key: str, name: str, error: UnresolvedAuthError) -> None:
        """Record the call that could not be made as a failed task, so the timeline shows it."""
        key = self._begin(key)
        task = self._task(key, name, integration=error.integration_id)
        await self._save(
            replace(task, status="failed", error=str(error), finished_at=self._clock())
        )

    def _begin(self, key: object) -> str:
        key = _check_key(key)
        if key in self._used:
            raise TaskKeyReused(f"task key {key!r} is used twice in run {self.ctx.id}")
        self._used.add(key)
        return key

    def _task(self, key: str, name: str, **lineage: str | None) -> TaskRecord:
        """The task's row as an earlier execution left it, or a new one."""
        task = self._tasks.get(key)
        if task is not None:
            return task
        self._seq += 1
        return TaskRecord(
            key=key,
            name=name,
            seq=self._seq,
            status="running",
            output=None,
            error=None,
            attempts=0,
            started_at=self._clock(),
            finished_at=None,
            resume_at=None,
            integration=lineage.get("integration"),
            credential_source=lineage.get("credential_source"),
            credential_account=lineage.get("credential_account"),
        )

    async def _save(self, task: TaskRecord) -> None:
        try:
            await self._store.save_task(self.ctx.id, task)
        except Exception as exc:
            if connection_lost(exc):
                raise StoreInterrupted(str(exc)) from exc
            raise
        self._tasks[task.key] = task

    async def _call(self, task: TaskRecord, fn: Callable[[], Awaitable[Any] | Any]) -> Any:
        """Call a task's function. Its "running" row is written only once it has run for
        RUNNING_MARK_SECONDS: a quick task costs one write (its outcome), not two."""
        writing = False

        async def mark_running() -> None:
            nonlocal writing
            await asyncio.sleep(RUNNING_MARK_SECONDS)
            writing = True
            await self._save(task)

        marker = asyncio.create_task(mark_running())
        try:
            with task_span(task.key, task.name, task.integration):
                result = fn()
                return await result if inspect.isawaitable(result) else result
        finally:
            if not writing:
                marker.cancel()  # still asleep: nothing was written
            # A write in flight is never cut off; it must land before the outcome's.
            await asyncio.gather(marker, return_exceptions=True)

    async def _attempt(
        self, task: TaskRecord, fn: Callable[[], Awaitable[Any] | Any], policy: RetryPolicy
    ) -> dict[str, Any]:
        """One attempt, as a step: its outcome is a JSON value the engine records, so a replay
        sees exactly what the first execution saw (an exception would be pickled)."""
        task = replace(task, status="running", attempts=task.attempts + 1, resume_at=None)
        try:
            result = await self._call(task, fn)
        except Exception as exc:
            error = _describe_failure(exc)
            # An error may say it is final (a refused credential) or when to try again (429's
            # Retry-After); otherwise the policy decides.
            if task.attempts < policy.limit and getattr(exc, "retryable", True):
                after = getattr(exc, "retry_after", None)
                delay = policy.delay(task.attempts) if after is None else float(after)
                resume_at = self._clock() + timedelta(seconds=max(0.0, delay))
                await self._save(replace(task, status="waiting", error=error, resume_at=resume_at))
                return {"retry_at": resume_at.isoformat()}
            await self._save(replace(task, status="failed", error=error, finished_at=self._clock()))
            return {"failed": error, "attempts": task.attempts}
        try:
            output = to_json(result, f"task {task.key!r}")
        except TaskOutputError as exc:
            await self._save(
                replace(task, status="failed", error=str(exc), finished_at=self._clock())
            )
            return {"unstorable": str(exc)}
        await self._save(
            replace(task, status="succeeded", output=output, error=None, finished_at=self._clock())
        )
        return {"output": output}

    async def run_task(
        self,
        key: str,
        fn: Callable[[], Awaitable[Any] | Any],
        *,
        retry: RetryPolicy | None = None,
        name: str | None = None,
        integration: str | None = None,
        credential_source: str | None = None,
        credential_account: str | None = None,
    ) -> Any:
        """Run ``fn`` once for this run and return its (recorded) JSON output."""
        key = self._begin(key)
        policy = retry or self._job.retry
        lineage = {
            "integration": integration,
            "credential_source": credential_source,
            "credential_account": credential_account,
        }
        while True:
            task = self._task(key, name or key, **lineage)
            outcome = await step(key, functools.partial(self._attempt, task, fn, policy))
            if "output" in outcome:
                return outcome["output"]
            if "unstorable" in outcome:
                raise TaskOutputError(outcome["unstorable"])
            if "failed" in outcome:
                raise TaskFailed(key, outcome["attempts"], outcome["failed"])
            await self._until(datetime.fromisoformat(outcome["retry_at"]))

    async def _until(self, resume_at: datetime) -> None:
        """Wait, durably, until ``resume_at`` by the runtime's clock, holding no slot."""
        if resume_at <= self._clock():
            return
        store, run_id = self._store, self.ctx.id
        if not await store.set_waiting(run_id, resume_at):
            raise RunCancelled(run_id)
        async with self._segment.paused():
            await self._runtime.sleeper.until(resume_at)
        if not await store.set_running(run_id):
            raise RunCancelled(run_id)
        # A credential resolved before the wait may have been refreshed or revoked meanwhile:
        # the next call resolves afresh, as a new execution would.
        self._credentials.clear()

    async def wait(self, key: str, *, seconds: float) -> None:
        """Wait ``seconds``; the run holds no execution slot meanwhile."""
        key = self._begin(key)

        async def due() -> str:
            resume_at = self._clock() + timedelta(seconds=seconds)
            task = replace(self._task(key, "wait"), status="waiting", resume_at=resume_at)
            await self._save(task)
            return resume_at.isoformat()

        resume_at = datetime.fromisoformat(await step(key, due))
        await self._until(resume_at)
        task = self._task(key, "wait")
        if task.status != "succeeded":
            done = replace(task, status="succeeded", finished_at=self._clock(), attempts=1)
            await self._save(replace(done, resume_at=resume_at))

    async def send_event(
        self, key: str, event: dict[str, Any], *, account_id: str | None = None
    ) -> dict[str, Any]:
        """Send an event as a task. Without an ``id`` the event gets one made of the run id and
        the key, so a task interrupted and run again does not send it twice."""
        event = {"id": f"{self.ctx.id}:{key}", **event}

        async def send() -> dict[str, Any]:
            sent: SentEvent = await self._runtime.send_event(event, account_id=account_id)
            return {"id": sent.id, "run_ids": list(sent.run_ids)}

        result: dict[str, Any] = await self.run_task(key, send, name="send event")
        return result
