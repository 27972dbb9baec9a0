"""Execute one claimed run to its next state: finished (succeeded, failed, timed out), suspended
(``io.wait``, retry backoff), or given up (lease lost, run cancelled). The lease is renewed while
the run function runs; a cancel seen at renewal (or made in this process) interrupts it."""

from __future__ import annotations

__all__ = ["Executor"]

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from authward.errors import AuthwardError
from authward.jobs.client import Job
from authward.jobs.context import Account, EventRef, JobRef, RunContext
from authward.jobs.errors import JobsError
from authward.jobs.identity import principal_from_json
from authward.jobs.io import Io, Suspend, current_io, to_json
from authward.jobs.records import ClaimedRun
from authward.jobs.store import LeaseLost, StoreInterrupted
from authward.jobs.triggers import EventTrigger
from authward.observability import metrics
from authward.observability.tracing import identify, run_ended, run_span
from authward.principal import use_principal

if TYPE_CHECKING:
    from authward.jobs.runtime import JobsRuntime

log = logging.getLogger("authward.jobs")


class _TimedOut(AuthwardError):
    pass


def job_payload(job: Job, raw: Any) -> Any:
    """What the run function receives: a validated model for an event job with a schema."""
    trigger = job.trigger_spec
    if isinstance(trigger, EventTrigger) and trigger.schema is not None:
        return trigger.schema.model_validate(raw)
    return raw


def _describe(exc: BaseException) -> str:
    if isinstance(exc, JobsError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _outcome(body: asyncio.Task[Any]) -> str:
    """How an attempt ended, for its metric and span: a fixed set of words."""
    if not body.done() or body.cancelled():
        return "cancelled"
    exc = body.exception()
    if exc is None:
        return "succeeded"
    if isinstance(exc, Suspend):
        return "suspended"
    if isinstance(exc, _TimedOut):
        return "timed_out"
    if isinstance(exc, LeaseLost | StoreInterrupted):
        return "interrupted"
    return "failed"


class Executor:
    def __init__(self, runtime: JobsRuntime) -> None:
        self._runtime = runtime
        self._active: dict[str, asyncio.Task[Any]] = {}

    def interrupt(self, run_id: str) -> bool:
        """Stop a run executing in this process (it was cancelled)."""
        body = self._active.get(run_id)
        if body is None:
            return False
        body.cancel()
        return True

    def _context(self, job: Job, run: ClaimedRun) -> RunContext:
        return RunContext(
            id=run.id,
            job=JobRef(job.id, run.job_version),
            event=EventRef(run.event_id, run.event_name, run.event_timestamp),
            account=Account(run.account_id) if run.account_id is not None else None,
            environment=run.environment,
            user=principal_from_json(run.principal) if run.principal else None,
            attempt=run.attempts,
        )

    async def execute(self, run: ClaimedRun) -> None:
        rt = self._runtime
        job = rt.jobs.get(run.job_id)
        if job is None:
            await rt.store.finish(
                run.id,
                run.lease_owner,
                "failed",
                rt.clock(),
                error=f"job {run.job_id!r} is not defined in this process",
            )
            return
        try:
            payload = job_payload(job, run.payload)
        except ValidationError as exc:
            await rt.store.finish(
                run.id,
                run.lease_owner,
                "failed",
                rt.clock(),
                error=f"the payload does not match the job's schema: {exc}",
            )
            return
        ctx = self._context(job, run)
        tasks, logs = await rt.store.history(run.id) if run.attempts > 1 else ({}, 0)
        io = Io(runtime=rt, job=job, ctx=ctx, owner=run.lease_owner, tasks=tasks, logs_stored=logs)
        # The run's span and metrics (decision 053); the body's task runs inside the span.
        with run_span(job.id, run.id, run.attempts) as span:
            who = ctx.user.principal_id if ctx.user else None
            identify(span, principal_id=who, account_id=run.account_id)
            body = asyncio.create_task(self._call(job, payload, io, ctx), name=f"run {run.id}")
            self._active[run.id] = body
            started = time.monotonic()
            try:
                await self._supervise(body, run)
            finally:
                self._active.pop(run.id, None)
                status = _outcome(body)
                run_ended(span, status)
                metrics.job_run(job.id, status, time.monotonic() - started)

    async def _call(self, job: Job, payload: Any, io: Io, ctx: RunContext) -> Any:
        current_io.set(io)  # this task's own context: visible to the run function only
        with use_principal(ctx.user):
            limit = asyncio.timeout(job.timeout_seconds)
            try:
                async with limit:
                    return await job.run(payload, io, ctx)
            except TimeoutError:
                if limit.expired():
                    raise _TimedOut from None
                raise

    async def _supervise(self, body: asyncio.Task[Any], run: ClaimedRun) -> None:
        rt = self._runtime
        every = rt.lease_seconds / 3
        try:
            while not body.done():
                await asyncio.wait({body}, timeout=every)
                if not body.done() and not await self._renew(run):
                    body.cancel()
                    await asyncio.wait({body})
        except asyncio.CancelledError:
            # The worker is stopping: interrupt the run and give it back to the queue.
            body.cancel()
            await asyncio.wait({body})
            await rt.store.release(run.id, run.lease_owner)
            raise
        await self._settle(body, run)

    async def _renew(self, run: ClaimedRun) -> bool:
        rt = self._runtime
        try:
            return await rt.store.renew(run.id, run.lease_owner, rt.clock(), rt.lease_seconds)
        except Exception as exc:
            # The store is unreachable for a moment: keep running; if it stays away the lease
            # runs out and the run is replayed elsewhere, completed tasks skipped.
            log.warning("run %s: lease renewal failed: %s", run.id, type(exc).__name__)
            return True

    async def _settle(self, body: asyncio.Task[Any], run: ClaimedRun) -> None:
        rt, owner = self._runtime, run.lease_owner
        if body.cancelled():
            return  # cancelled or taken over: whoever did that owns the run's state now
        exc = body.exception()
        if exc is None:
            try:
                output = to_json(body.result(), "the run function")
            except JobsError as bad:
                await rt.store.finish(run.id, owner, "failed", rt.clock(), error=str(bad))
                return
            await rt.store.finish(run.id, owner, "succeeded", rt.clock(), output=output)
        elif isinstance(exc, Suspend):
            if await rt.store.suspend(run.id, owner, exc.resume_at):
                rt.dispatcher.wake_at(exc.resume_at)
        elif isinstance(exc, LeaseLost):
            return
        elif isinstance(exc, StoreInterrupted):
            log.warning("run %s: the database went away; it will be replayed", run.id)
            with contextlib.suppress(Exception):
                await rt.store.release(run.id, owner)
        elif isinstance(exc, _TimedOut):
            job = rt.jobs[run.job_id]
            message = f"the run took longer than its timeout ({job.timeout_seconds:g}s)"
            await rt.store.finish(run.id, owner, "timed_out", rt.clock(), error=message)
        elif isinstance(exc, Exception):
            await rt.store.finish(run.id, owner, "failed", rt.clock(), error=_describe(exc))
        else:
            log.error("run %s ended with %s", run.id, type(exc).__name__)
            await rt.store.finish(run.id, owner, "failed", rt.clock(), error=_describe(exc))
