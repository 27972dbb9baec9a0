"""Every SQL statement about runs: the run index (status, account, principal, job, timings),
tasks as the dashboard and credential lineage show them, logs, events, reads.

Which process executes a run, and when, is the engine's (engine.py: DBOS); these rows say what a
user sees. Writes about a run in progress are fenced by its status: once a run is final
(cancelled, say) a late write from an execution that did not notice yet changes nothing.
"""

from __future__ import annotations

__all__ = ["RunStore", "StoreInterrupted", "connection_lost"]

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from authward.errors import AuthwardSignal
from authward.jobs._sql import Writer, insert_ignore
from authward.jobs.records import (
    LIVE_STATUSES,
    ClaimedRun,
    LogRecord,
    NewRun,
    RunDetail,
    RunStatus,
    RunSummary,
    TaskRecord,
)
from authward.store.schema import job_events, job_run_logs, job_runs, job_tasks

_RUNS = job_runs.c
_NEW_RUN_FIELDS = tuple(f.name for f in fields(NewRun))
_TASKS = job_tasks.c
_TASK_FIELDS = tuple(f.name for f in fields(TaskRecord))


class StoreInterrupted(AuthwardSignal):
    """The database went away while a run was executing: stop this execution. The run is
    replayed once the database answers again, its completed tasks skipped."""


def connection_lost(exc: BaseException) -> bool:
    """A lost or refused connection, as opposed to a mistake in a statement."""
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, OperationalError | InterfaceError
        )
    return isinstance(exc, OSError)


def _claimed(r: Any) -> ClaimedRun:
    return ClaimedRun(
        id=r.id,
        job_id=r.job_id,
        job_version=r.job_version,
        payload=r.payload,
        account_id=r.account_id,
        principal=r.principal,
        event_id=r.event_id,
        event_name=r.event_name,
        event_timestamp=r.event_timestamp,
        environment=r.environment,
        attempts=r.attempts,
        traceparent=r.traceparent,
        tracestate=r.tracestate,
    )


def _summary_fields(r: Any) -> dict[str, Any]:
    duration = None
    if r["started_at"] is not None and r["finished_at"] is not None:
        duration = int((r["finished_at"] - r["started_at"]).total_seconds() * 1000)
    return {
        "id": r["id"],
        "job_id": r["job_id"],
        "job_version": r["job_version"],
        "status": r["status"],
        "account_id": r["account_id"],
        "invoker": r["invoker"],
        "event_name": r["event_name"],
        "created_at": r["created_at"],
        "started_at": r["started_at"],
        "finished_at": r["finished_at"],
        "duration_ms": duration,
        "attempts": r["attempts"],
    }


def _task(r: Any) -> TaskRecord:
    return TaskRecord(
        key=r["key"],
        name=r["name"],
        seq=r["seq"],
        status=r["status"],
        output=r["output"],
        error=r["error"],
        attempts=r["attempts"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        resume_at=r["resume_at"],
        integration=r["integration"],
        credential_source=r["credential_source"],
        credential_account=r["credential_account"],
    )


_CLAIM_COLUMNS = (
    _RUNS.id,
    _RUNS.job_id,
    _RUNS.job_version,
    _RUNS.payload,
    _RUNS.account_id,
    _RUNS.principal,
    _RUNS.event_id,
    _RUNS.event_name,
    _RUNS.event_timestamp,
    _RUNS.environment,
    _RUNS.attempts,
    _RUNS.traceparent,
    _RUNS.tracestate,
)


def _save_task_statement(dialect: str) -> Any:
    # Built once: constructing a statement costs more Python than executing a cached one.
    names = [c.name for c in job_tasks.c]
    held = exists().where(_RUNS.id == bindparam("v_run_id"), _RUNS.status.in_(LIVE_STATUSES))
    source = select(*(bindparam(f"v_{n}", type_=job_tasks.c[n].type) for n in names)).where(held)
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(job_tasks).from_select(names, source)
    return statement.on_conflict_do_update(
        index_elements=[_TASKS.run_id, _TASKS.key],
        set_={n: statement.excluded[n] for n in names if n not in ("run_id", "key")},
    )


class RunStore:
    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self._engine = writer.engine
        self._save_task = _save_task_statement(writer.engine.dialect.name)

    # -- queueing ---------------------------------------------------------------------------

    async def insert_runs(
        self, runs: Sequence[NewRun], conn: AsyncConnection | None = None, *, ignore: bool = False
    ) -> list[str]:
        """Store runs as queued; ``ignore``: skip a run whose id is stored already (a schedule's
        occurrence, whose run id is made of it). Returns the ids inserted."""
        if not runs:
            return []
        # Field by field, not asdict(): asdict deep-copies the payload, a webhook's 4 KB of JSON.
        rows = [
            {
                **{name: getattr(run, name) for name in _NEW_RUN_FIELDS},
                "status": "queued",
                "attempts": 0,
                "started_at": None,
            }
            for run in runs
        ]
        if conn is None:
            async with self.writer.transaction() as own:
                return await self._insert(own, rows, ignore)
        return await self._insert(conn, rows, ignore)

    @staticmethod
    async def _insert(conn: AsyncConnection, rows: list[dict[str, Any]], ignore: bool) -> list[str]:
        if not ignore:
            await conn.execute(job_runs.insert(), rows)
            return [r["id"] for r in rows]
        return [r["id"] for r in rows if await insert_ignore(conn, job_runs, r)]

    async def record_event(
        self, event: dict[str, Any], runs: Sequence[NewRun]
    ) -> tuple[bool, tuple[str, ...]]:
        """Store an event and queue its runs, once per event id. Returns (duplicate, run ids)."""
        async with self.writer.transaction() as conn:
            if not await insert_ignore(conn, job_events, event):
                query = (
                    select(_RUNS.id)
                    .where(_RUNS.event_id == event["id"])
                    .order_by(_RUNS.created_at, _RUNS.id)
                )
                return True, tuple((await conn.execute(query)).scalars())
            await self.insert_runs(runs, conn)
        return False, tuple(r.id for r in runs)

    # -- a run's execution ------------------------------------------------------------------

    async def start(self, run_id: str, now: datetime) -> ClaimedRun | None:
        """An execution of the run begins (the first, or a replay): None if it is final."""
        statement = (
            update(job_runs)
            .where(_RUNS.id == run_id, _RUNS.status.in_(LIVE_STATUSES))
            .values(
                status="running",
                attempts=_RUNS.attempts + 1,
                started_at=func.coalesce(_RUNS.started_at, now),
                resume_at=None,
            )
            .returning(*_CLAIM_COLUMNS)
        )
        async with self.writer.transaction() as conn:
            row = (await conn.execute(statement)).first()
        return _claimed(row) if row else None

    async def _live(self, run_id: str, values: dict[str, Any], status: str | None = None) -> bool:
        which = _RUNS.status == status if status else _RUNS.status.in_(LIVE_STATUSES)
        statement = update(job_runs).where(_RUNS.id == run_id, which).values(**values)
        async with self.writer.transaction() as conn:
            return bool((await conn.execute(statement)).rowcount)

    async def finish(
        self,
        run_id: str,
        status: RunStatus,
        now: datetime,
        *,
        output: Any = None,
        error: str | None = None,
    ) -> bool:
        values = {"status": status, "output": output, "error": error, "finished_at": now}
        return await self._live(run_id, values)

    async def set_waiting(self, run_id: str, resume_at: datetime) -> bool:
        return await self._live(run_id, {"status": "waiting", "resume_at": resume_at}, "running")

    async def set_running(self, run_id: str) -> bool:
        return await self._live(run_id, {"status": "running", "resume_at": None}, "waiting")

    async def cancel(self, run_id: str, now: datetime) -> bool:
        values = {"status": "cancelled", "finished_at": now, "error": "cancelled"}
        return await self._live(run_id, values)

    async def requeued(self, run_ids: list[str]) -> None:
        """These runs' executions were interrupted and they are back on the queue."""
        if not run_ids:
            return
        statement = (
            update(job_runs)
            .where(_RUNS.id.in_(run_ids), _RUNS.status.in_(("running", "waiting")))
            .values(status="queued", resume_at=None)
        )
        async with self.writer.transaction() as conn:
            await conn.execute(statement)

    async def stalled(self, before: datetime, limit: int = 100) -> list[str]:
        """Runs queued before ``before`` and never started: the engine may not know them (the
        process that stored them died before handing them over, or they were stored by an
        older release), so they are handed over again (idempotent by run id)."""
        query = (
            select(_RUNS.id)
            .where(_RUNS.status == "queued", _RUNS.created_at < before)
            .order_by(_RUNS.created_at)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    # -- tasks and logs ---------------------------------------------------------------------

    async def history(self, run_id: str) -> tuple[dict[str, TaskRecord], int]:
        """What a resumed run replays against: its tasks by key, and how many logs it wrote."""
        tasks_query = select(job_tasks).where(_TASKS.run_id == run_id).order_by(_TASKS.seq)
        logs_query = select(func.count()).where(job_run_logs.c.run_id == run_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(tasks_query)).mappings().all()
            logs = int((await conn.execute(logs_query)).scalar_one())
        return {r["key"]: _task(r) for r in rows}, logs

    async def save_task(self, run_id: str, task: TaskRecord) -> bool:
        """Insert or update a task while the run is live (one statement: the row comes from a
        SELECT that finds nothing once the run is final). False: it was not."""
        # Field by field, for the same reason as insert_runs.
        params = {f"v_{name}": getattr(task, name) for name in _TASK_FIELDS}
        async with self.writer.transaction() as conn:
            result = await conn.execute(self._save_task, {**params, "v_run_id": run_id})
            return bool(result.rowcount)

    async def add_log(self, run_id: str, at: datetime, level: str, message: str, data: Any) -> None:
        values = {"run_id": run_id, "at": at, "level": level, "message": message, "data": data}
        async with self.writer.transaction() as conn:
            await conn.execute(job_run_logs.insert().values(**values))

    # -- reads ------------------------------------------------------------------------------

    async def queued_count(self) -> int:
        """Runs waiting for a worker (the queue-depth gauge)."""
        async with self._engine.connect() as conn:
            value = await conn.scalar(select(func.count()).where(_RUNS.status == "queued"))
        return int(value or 0)

    async def status(self, run_id: str) -> str | None:
        async with self._engine.connect() as conn:
            value = await conn.scalar(select(_RUNS.status).where(_RUNS.id == run_id))
        return None if value is None else str(value)

    async def list_runs(
        self,
        *,
        account_id: str | None = None,
        job_id: str | None = None,
        status: str | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[RunSummary]:
        """Up to ``limit`` runs, newest first (by ``created_at``, then id), that match every
        filter given; ``after``: only those that follow the run of this ``created_at`` and id."""
        query = select(job_runs).order_by(_RUNS.created_at.desc(), _RUNS.id.desc()).limit(limit)
        if after is not None:
            at, run_id = after
            query = query.where(
                or_(_RUNS.created_at < at, and_(_RUNS.created_at == at, _RUNS.id < run_id))
            )
        if account_id is not None:
            query = query.where(_RUNS.account_id == account_id)
        if job_id is not None:
            query = query.where(_RUNS.job_id == job_id)
        if status is not None:
            query = query.where(_RUNS.status == status)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [RunSummary(**_summary_fields(r)) for r in rows]

    async def get_run(self, run_id: str) -> RunDetail | None:
        logs_query = (
            select(job_run_logs).where(job_run_logs.c.run_id == run_id).order_by(job_run_logs.c.id)
        )
        async with self._engine.connect() as conn:
            found = await conn.execute(select(job_runs).where(_RUNS.id == run_id))
            row = found.mappings().first()
            if row is None:
                return None
            task_rows = (
                await conn.execute(
                    select(job_tasks).where(_TASKS.run_id == run_id).order_by(_TASKS.seq)
                )
            ).mappings()
            tasks = [_task(t) for t in task_rows]
            log_rows = (await conn.execute(logs_query)).mappings()
            logs = [LogRecord(r["at"], r["level"], r["message"], r["data"]) for r in log_rows]
        return RunDetail(
            **_summary_fields(row),
            payload=row["payload"],
            output=row["output"],
            error=row["error"],
            event_id=row["event_id"],
            event_timestamp=row["event_timestamp"],
            environment=row["environment"],
            resume_at=row["resume_at"],
            tasks=tasks,
            logs=logs,
        )
