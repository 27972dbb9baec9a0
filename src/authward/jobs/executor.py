"""Execute one run inside its DBOS workflow: take an execution slot, mark the run running, call
the run function with ``io`` and ``ctx``, and record how it ended (succeeded, failed, timed out,
cancelled). A run replayed after its worker died starts here again; its completed tasks return
their recorded outputs (engine.py)."""

from __future__ import annotations

__all__ = ["Executor", "Segment", "Sleeper", "Slots", "job_payload"]

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from authward.errors import AuthwardError
from authward.jobs.client import Job
from authward.jobs.context import Account, EventRef, JobRef, RunContext
from authward.jobs.engine import RunCancelled, RunTakenOver
from authward.jobs.errors import JobsError
from authward.jobs.identity import principal_from_json
from authward.jobs.io import Io, current_io, to_json
from authward.jobs.records import ClaimedRun
from authward.jobs.store import StoreInterrupted
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
    """How an execution ended, for its metric and span: a fixed set of words."""
    if not body.done() or body.cancelled():
        return "cancelled"
    exc = body.exception()
    if exc is None:
        return "succeeded"
    if isinstance(exc, _TimedOut):
        return "timed_out"
    if isinstance(exc, StoreInterrupted | RunCancelled | RunTakenOver):
        return "interrupted"
    return "failed"


class Slots:
    """How many runs execute at once in this process (``AUTHWARD_JOBS_CONCURRENCY``). A run
    waiting (``io.wait``, a retry's backoff) gives its slot back until it is due. Runs started
    here straight from ``send_event`` were promised a slot, so a burst beyond the free slots
    goes to the queue, where other workers find it."""

    def __init__(self, concurrency: int) -> None:
        self._free = asyncio.Semaphore(concurrency)
        self._capacity = concurrency
        self._held = 0
        self._promised: set[str] = set()

    def promise(self, run_ids: list[str]) -> int:
        """Promise slots to the first of ``run_ids`` (as many as are free); returns how many."""
        free = self._capacity - self._held - len(self._promised)
        taken = run_ids[: max(0, free)]
        self._promised.update(taken)
        return len(taken)

    async def acquire(self, run_id: str | None = None) -> None:
        await self._free.acquire()
        self._held += 1
        self._promised.discard(run_id or "")

    def release(self) -> None:
        self._held -= 1
        self._free.release()


class Segment:
    """One execution of the run function between waits: holds a slot and is bounded by the
    job's timeout. ``paused()`` gives both up while the run waits."""

    def __init__(self, slots: Slots, timeout: asyncio.Timeout, seconds: float) -> None:
        self._slots = slots
        self._timeout = timeout
        self._seconds = seconds

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        self._timeout.reschedule(None)
        self._slots.release()
        try:
            yield
        finally:
            await self._slots.acquire()
            loop = asyncio.get_running_loop()
            self._timeout.reschedule(loop.time() + self._seconds)


class Executor:
    def __init__(self, runtime: JobsRuntime, slots: Slots) -> None:
        self._runtime = runtime
        self.slots = slots
        self._active: dict[str, asyncio.Task[Any]] = {}
        #: The DBOS workflow tasks executing runs here (stop() interrupts them).
        self.workflows: set[asyncio.Task[Any]] = set()
        self._replays: set[asyncio.Task[None]] = set()

    def _replay_later(self, run_id: str, execution: asyncio.Task[Any]) -> None:
        """The database went away while ``run_id`` executed here: once that execution has
        ended and the database answers, put the run back on the queue to be replayed."""
        rt = self._runtime

        async def replay() -> None:
            await asyncio.wait({execution})
            delay = 0.05
            while True:
                try:
                    await rt.store.status(run_id)
                    break
                except Exception:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
            await rt.engine.resume(run_id)

        task = asyncio.create_task(replay(), name=f"replay {run_id}")
        self._replays.add(task)
        task.add_done_callback(self._replays.discard)

    async def stop_replays(self) -> None:
        for task in list(self._replays):
            task.cancel()
        await asyncio.gather(*self._replays, return_exceptions=True)

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

    async def execute(self, run_id: str) -> None:
        """The workflow's body (engine.py calls it)."""
        task = asyncio.current_task()
        assert task is not None
        self.workflows.add(task)
        try:
            await self.slots.acquire(run_id)
            try:
                await self._execute(run_id)
            finally:
                self.slots.release()
        except StoreInterrupted:
            self._replay_later(run_id, task)
            raise asyncio.CancelledError from None
        finally:
            self.workflows.discard(task)

    async def _execute(self, run_id: str) -> None:
        rt = self._runtime
        run = await rt.store.start(run_id, rt.clock())
        if run is None:
            return  # cancelled (or finished) before it started
        job = rt.jobs.get(run.job_id)
        if job is None:
            error = f"job {run.job_id!r} is not defined in this process"
            await rt.store.finish(run.id, "failed", rt.clock(), error=error)
            return
        if run.attempts > rt.settings.max_claims:
            n = rt.settings.max_claims
            error = (
                f"given up after {n} executions whose worker went away before recording an "
                f"outcome (killed or crashed while executing this run?); "
                f"AUTHWARD_JOBS_MAX_CLAIMS={n}"
            )
            await rt.store.finish(run.id, "failed", rt.clock(), error=error)
            return
        try:
            payload = job_payload(job, run.payload)
        except ValidationError as exc:
            error = f"the payload does not match the job's schema: {exc}"
            await rt.store.finish(run.id, "failed", rt.clock(), error=error)
            return
        ctx = self._context(job, run)
        tasks, logs = await rt.store.history(run.id) if run.attempts > 1 else ({}, 0)

        def make_io(segment: Segment) -> Io:
            return Io(runtime=rt, job=job, ctx=ctx, segment=segment, tasks=tasks, logs_stored=logs)

        # The run's span and metrics (decision 053); the body's task runs inside the span.
        with run_span(job.id, run.id, run.attempts, run.traceparent, run.tracestate) as span:
            who = ctx.user.principal_id if ctx.user else None
            identify(span, principal_id=who, account_id=run.account_id)
            body = asyncio.create_task(self._call(job, payload, ctx, make_io), name=f"run {run.id}")
            self._active[run.id] = body
            started = time.monotonic()
            try:
                await self._watch(body, run.id)
            except asyncio.CancelledError:
                body.cancel()  # this process is stopping: the run stays pending in the engine
                await asyncio.wait({body})
                raise
            finally:
                self._active.pop(run.id, None)
                status = _outcome(body)
                run_ended(span, status)
                metrics.job_run(job.id, status, time.monotonic() - started)
        await self._settle(body, run, job)

    async def _watch(self, body: asyncio.Task[Any], run_id: str) -> None:
        """Wait for the run function, looking every ``cancel_check_seconds`` at whether the run
        was cancelled in another process (the engine would only stop it at its next task)."""
        rt = self._runtime
        while not body.done():
            await asyncio.wait({body}, timeout=rt.cancel_check_seconds)
            if body.done():
                return
            try:
                status = await rt.store.status(run_id)
            except Exception as exc:
                log.warning("run %s: its status could not be read: %s", run_id, type(exc).__name__)
                continue
            if status == "cancelled":
                body.cancel()
                await asyncio.wait({body})

    async def _call(
        self, job: Job, payload: Any, ctx: RunContext, make_io: Callable[[Segment], Io]
    ) -> Any:
        with use_principal(ctx.user):
            limit = asyncio.timeout(job.timeout_seconds)
            io = make_io(Segment(self.slots, limit, job.timeout_seconds))
            current_io.set(io)  # this task's own context: visible to the run function only
            try:
                async with limit:
                    return await job.run(payload, io, ctx)
            except TimeoutError:
                if limit.expired():
                    raise _TimedOut from None
                raise

    async def _settle(self, body: asyncio.Task[Any], run: ClaimedRun, job: Job) -> None:
        rt = self._runtime
        if body.cancelled():
            return  # cancelled here: cancel_run recorded it
        exc = body.exception()
        if exc is None:
            try:
                output = to_json(body.result(), "the run function")
            except JobsError as bad:
                await rt.store.finish(run.id, "failed", rt.clock(), error=str(bad))
                return
            await rt.store.finish(run.id, "succeeded", rt.clock(), output=output)
        elif isinstance(exc, RunCancelled):
            return  # cancelled in another process, which recorded it
        elif isinstance(exc, StoreInterrupted | RunTakenOver):
            raise exc
        elif isinstance(exc, _TimedOut):
            message = f"the run took longer than its timeout ({job.timeout_seconds:g}s)"
            await rt.store.finish(run.id, "timed_out", rt.clock(), error=message)
        else:
            if not isinstance(exc, Exception):
                log.error("run %s ended with %s", run.id, type(exc).__name__)
            await rt.store.finish(run.id, "failed", rt.clock(), error=_describe(exc))


class Sleeper:
    """Durable waits end when the runtime's clock reaches their time; ``wake()`` makes every
    waiter look at the clock again (a test that moved its clock calls ``aw.jobs.wake()``)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._tick = asyncio.Event()

    def wake(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def until(self, when: datetime) -> None:
        while (delay := (when - self._clock()).total_seconds()) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._tick.wait()
