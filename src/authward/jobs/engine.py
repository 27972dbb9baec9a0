"""The durable-execution engine under the job runtime: DBOS Transact (docs/decisions/046).

A run is one DBOS workflow whose id is the run id; each ``io`` task is a DBOS step. DBOS keeps
process-wide state (one ``DBOS`` instance, one registry of workflow functions), so this module is
the only one that imports it, and it holds the one thing that must be process-wide on our side:
the handler that executes a run in this process (:func:`launch` sets it, :func:`shutdown` clears
it). Everything here goes through DBOS's public API (``DBOS``, ``DBOSClient``, ``StepOptions``).

Producers (any process that queues runs) use a :class:`DBOSClient`, which needs no launch. A
process that executes runs launches DBOS once; it then also starts runs of its own directly,
without waiting for the queue's poll.
"""

from __future__ import annotations

__all__ = [
    "Engine",
    "EngineConfig",
    "RunCancelled",
    "RunTakenOver",
    "step",
]

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from authward.errors import AuthwardSignal
from authward.jobs.errors import JobsError, ReplayMismatch
from authward.store.engine import jobs_engine_kwargs, prepare_jobs_database

if TYPE_CHECKING:
    from dbos import DBOSClient, DBOSConfig, EnqueueOptions, StepOptions

T = TypeVar("T")
log = logging.getLogger("authward.jobs")

#: The one queue runs are enqueued on; every worker listens to it.
QUEUE = "authward-runs"
#: The workflow function's registered name: runs recorded under it survive upgrades.
WORKFLOW = "authward.run"

RunHandler = Callable[[str], Awaitable[None]]
_handler: RunHandler | None = None


class RunCancelled(AuthwardSignal):
    """The run was cancelled (here or in another process): stop executing it."""


class RunTakenOver(AuthwardSignal):
    """Another execution owns the run now (this worker was taken for dead while it was slow, and
    its runs were recovered elsewhere): stop executing it and record nothing."""


async def _run(run_id: str) -> None:
    handler = _handler
    if handler is None:  # DBOS only executes workflows after launch(), which sets it
        raise JobsError("no job runtime is executing runs in this process")
    try:
        await handler(run_id)
    except RunTakenOver:
        # DBOS's own signal for this: it then waits for the owner's outcome, recording none.
        raise _dbos().error.DBOSWorkflowConflictIDError(run_id) from None


_workflow: Callable[[str], Coroutine[Any, Any, None]] | None = None


def _dbos() -> ModuleType:
    """DBOS, imported on first use: importing it takes a second, which commands that never
    queue or execute a run (``authward jobs --help``) should not pay. The workflow function is
    registered then, before any launch."""
    global _workflow
    import dbos

    if _workflow is None:
        _workflow = dbos.DBOS.workflow(name=WORKFLOW, max_recovery_attempts=None)(_run)
    return dbos


async def step(name: str, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``fn`` as the run's next DBOS step: executed once, its result replayed on resume."""
    dbos = _dbos()
    options: StepOptions = {"name": name}
    try:
        result: T = await dbos.DBOS.run_step_async(options, fn)
        return result
    except dbos.error.DBOSUnexpectedStepError as exc:
        raise ReplayMismatch(
            f"task {name!r} is not where the run's earlier execution had it ({exc}); the "
            "run's io calls must happen in the same order every time it is replayed"
        ) from None
    except dbos.error.DBOSWorkflowCancelledError:
        raise RunCancelled(name) from None
    except dbos.error.DBOSWorkflowConflictIDError:
        raise RunTakenOver(name) from None


@dataclass(frozen=True, slots=True)
class EngineConfig:
    #: Where DBOS keeps its state (store.engine.jobs_system_url).
    system_url: str
    #: Stable and unique per worker: DBOS recovers a worker's pending runs under this id.
    executor_id: str
    app_version: str
    #: How often a worker polls the queue for runs queued by other processes.
    poll_seconds: float
    #: Runs one worker holds at once, waiting ones included (DBOS's worker_concurrency).
    held: int


class Engine:
    """One per job runtime. Queueing works once :meth:`open` returned; executing needs
    :meth:`launch`, which only one runtime per process can have done at a time."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._client: DBOSClient | None = None
        self.launched = False

    async def open(self) -> None:
        if self._client is not None:
            return
        # Idempotent; DBOS's client never creates the schema itself.
        DBOS = _dbos().DBOS
        await asyncio.to_thread(DBOS.migrate, self.config.system_url)
        await asyncio.to_thread(prepare_jobs_database, self.config.system_url)
        self._client = await asyncio.to_thread(
            lambda: _dbos().DBOSClient(
                system_database_url=self.config.system_url, application_name="authward"
            )
        )

    @property
    def client(self) -> DBOSClient:
        if self._client is None:
            raise JobsError("the job engine is not open")
        return self._client

    async def launch(self, handler: RunHandler) -> None:
        global _handler
        if self.launched:
            return
        if _handler is not None:
            raise JobsError(
                "another job runtime already executes runs in this process; close it first "
                "(DBOS, the engine, is one per process)"
            )
        await self.open()
        config: DBOSConfig = {
            "name": "authward",
            "system_database_url": self.config.system_url,
            "executor_id": self.config.executor_id,
            "application_version": self.config.app_version,
            # DBOS warns of each workflow task interrupted by a clean stop; errors still show.
            "log_level": "ERROR",
            # Its SQLite notification poller sleeps this long between looks, and a stop waits
            # for it to wake (1 s by default: every stop took up to a second).
            "notification_listener_polling_interval_sec": 0.25,
            "db_engine_kwargs": jobs_engine_kwargs(self.config.system_url),
        }
        _handler = handler
        DBOS = _dbos().DBOS
        try:
            DBOS(config=config)
            DBOS.launch()
            await DBOS.register_queue_async(
                QUEUE,
                worker_concurrency=self.config.held,
                polling_interval_sec=self.config.poll_seconds,
                on_conflict="always_update",
            )
        except BaseException:
            _handler = None
            DBOS.destroy()
            raise
        self.launched = True

    async def shutdown(self) -> None:
        """Stop executing here (runs in flight stay pending: recovered under this executor id
        when it starts again, or by another worker once this one is seen dead)."""
        global _handler
        if self.launched:
            self.launched = False
            await asyncio.to_thread(_dbos().DBOS.destroy)
            _handler = None
            # DBOS made its (now shut down) thread pool this loop's default executor.
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())

    async def close(self) -> None:
        await self.shutdown()
        if self._client is not None:
            client, self._client = self._client, None
            await asyncio.to_thread(client.destroy)

    async def enqueue(self, run_ids: list[str]) -> None:
        """Queue runs for any worker (idempotent: a run id already known is left alone)."""
        for run_id in run_ids:
            options: EnqueueOptions = {
                "workflow_name": WORKFLOW,
                "queue_name": QUEUE,
                "workflow_id": run_id,
                "app_version": self.config.app_version,
            }
            await self.client.enqueue_async(options, run_id)

    async def start_here(self, run_id: str) -> None:
        """Start a run in this process now (it must have launched). Started from a context of
        its own: from inside a run (``io.send_event``) DBOS would make it a child of that run."""

        async def start() -> None:
            dbos = _dbos()
            with dbos.SetWorkflowID(run_id):
                await dbos.DBOS.start_workflow_async(_workflow, run_id)

        await asyncio.create_task(start(), context=contextvars.Context())

    async def cancel(self, run_id: str) -> None:
        await self.client.cancel_workflow_async(run_id)

    async def known(self, run_ids: list[str]) -> set[str]:
        """Which of these runs the engine has a workflow for."""
        found = await self.client.list_workflows_async(
            workflow_ids=run_ids, load_input=False, load_output=False
        )
        return {w.workflow_id for w in found}

    async def resume(self, run_id: str) -> None:
        """Put a pending run back on the queue to be replayed."""
        await self.client.resume_workflow_async(run_id, queue_name=QUEUE)

    async def recover(self, executor_id: str) -> list[str]:
        """Put the runs a dead worker held back on the queue; their completed steps are kept."""
        pending = await self.client.list_workflows_async(
            status="PENDING",
            executor_id=executor_id,
            name=WORKFLOW,
            load_input=False,
            load_output=False,
        )
        ids = [w.workflow_id for w in pending]
        for run_id in ids:
            await self.resume(run_id)
        return ids
