"""Every SQL statement about runs: queueing, claiming with a lease, tasks, logs, events, reads.

A worker holds a run through its lease (``lease_owner``, ``lease_until``). Every write a worker
makes for a run is fenced by that lease: once the lease is lost (expired and taken over, or the
run was cancelled) the old worker's writes are refused with :class:`LeaseLost`.
"""

from __future__ import annotations

__all__ = [
    "Lease",
    "LeaseLost",
    "RunStore",
    "StoreInterrupted",
    "claimed",
    "connection_lost",
]

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, or_, select, update
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
from authward.jobs.wakeups import NOTIFY
from authward.store.schema import job_events, job_run_logs, job_runs, job_tasks

_RUNS = job_runs.c
_NEW_RUN_FIELDS = tuple(f.name for f in fields(NewRun))
_TASKS = job_tasks.c


#: (owner, lease_until) of runs inserted already claimed.
Lease = tuple[str, datetime]


def claimed(run: NewRun, owner: str) -> ClaimedRun:
    """The claim of a run inserted with a lease (what claim_due would have returned)."""
    return ClaimedRun(
        id=run.id,
        job_id=run.job_id,
        job_version=run.job_version,
        payload=run.payload,
        account_id=run.account_id,
        principal=run.principal,
        event_id=run.event_id,
        event_name=run.event_name,
        event_timestamp=run.event_timestamp,
        environment=run.environment,
        attempts=1,
        lease_owner=owner,
    )


class StoreInterrupted(AuthwardSignal):
    """The database went away while a run was executing: stop this execution. The run is
    replayed once the database is back (given back to the queue, or after its lease runs
    out), its completed tasks skipped."""


def connection_lost(exc: BaseException) -> bool:
    """A lost or refused connection, as opposed to a mistake in a statement."""
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, OperationalError | InterfaceError
        )
    return isinstance(exc, OSError)


class LeaseLost(AuthwardSignal):
    """This worker no longer holds the run (cancelled, or taken over after the lease ran out).

    A signal so that ``except Exception`` in a run function does not swallow it."""


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
        lease_owner=r.lease_owner,
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
    _RUNS.lease_owner,
)


def _save_task_statement(dialect: str) -> Any:
    # Built once: constructing a statement costs more Python than executing a cached one.
    names = [c.name for c in job_tasks.c]
    held = exists().where(
        _RUNS.id == bindparam("v_run_id"),
        _RUNS.lease_owner == bindparam("owner"),
        _RUNS.status == "running",
    )
    source = select(*(bindparam(f"v_{n}", type_=job_tasks.c[n].type) for n in names)).where(held)
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(job_tasks).from_select(names, source)
    return statement.on_conflict_do_update(
        index_elements=[_TASKS.run_id, _TASKS.key],
        set_={n: statement.excluded[n] for n in names if n not in ("run_id", "key")},
    )


class RunStore:
    def __init__(self, writer: Writer, *, max_claims: int = 5) -> None:
        self.writer = writer
        #: Claims in a row that may end with the worker gone before a run is given up.
        self.max_claims = max_claims
        self._engine = writer.engine
        self._save_task = _save_task_statement(writer.engine.dialect.name)
        #: PostgreSQL: transactions that make runs due wake every process's worker (wakeups.py).
        self._notify = writer.engine.dialect.name == "postgresql"

    # -- queueing ---------------------------------------------------------------------------

    async def insert_runs(
        self,
        runs: Sequence[NewRun],
        conn: AsyncConnection | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        """Queue runs; with a lease they are inserted already claimed by its owner."""
        if not runs:
            return
        state: dict[str, Any] = {"status": "queued", "attempts": 0}
        if lease is not None:
            owner, until = lease
            state = {"status": "running", "attempts": 1, "lease_owner": owner, "lease_until": until}
        # Field by field, not asdict(): asdict deep-copies the payload, a webhook's 4 KB of JSON.
        rows = [
            {
                **{name: getattr(run, name) for name in _NEW_RUN_FIELDS},
                **state,
                "started_at": run.created_at if lease else None,
            }
            for run in runs
        ]
        if conn is not None:
            await self._insert(conn, rows, queued=lease is None)
            return
        async with self.writer.transaction() as own:
            await self._insert(own, rows, queued=lease is None)

    async def _insert(
        self, conn: AsyncConnection, rows: list[dict[str, Any]], queued: bool
    ) -> None:
        await conn.execute(job_runs.insert(), rows)
        if queued and self._notify:
            await conn.execute(NOTIFY)

    async def record_event(
        self, event: dict[str, Any], runs: Sequence[NewRun], *, lease: Lease | None = None
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
            await self.insert_runs(runs, conn, lease=lease)
        return False, tuple(r.id for r in runs)

    # -- claiming and the lease -------------------------------------------------------------

    @staticmethod
    def _due(now: datetime) -> Any:
        return or_(
            _RUNS.status == "queued",
            and_(_RUNS.status == "waiting", _RUNS.resume_at <= now),
            and_(_RUNS.status == "running", _RUNS.lease_until < now),
        )

    def _take(self, owner: str, now: datetime, lease_seconds: float) -> dict[str, Any]:
        return {
            "status": "running",
            "lease_owner": owner,
            "lease_until": now + timedelta(seconds=lease_seconds),
            "attempts": _RUNS.attempts + 1,
            # Still "running" when claimed: the lease ran out, its worker is gone.
            "lost_claims": case(
                (_RUNS.status == "running", _RUNS.lost_claims + 1), else_=_RUNS.lost_claims
            ),
            "started_at": func.coalesce(_RUNS.started_at, now),
            "resume_at": None,
        }

    def _give_up(self, now: datetime, which: Any) -> Any:
        """Fail the runs among ``which`` whose worker vanished ``max_claims`` times in a row
        instead of claiming them again: a run that kills every worker executing it (a crash in
        native code, memory exhaustion) would otherwise take the workers down forever."""
        n = self.max_claims
        error = (
            f"given up after {n} claims in a row whose worker went away before recording an "
            f"outcome (killed or crashed while executing this run?); AUTHWARD_JOBS_MAX_CLAIMS={n}"
        )
        pick = select(_RUNS.id).where(
            which,
            _RUNS.status == "running",
            _RUNS.lease_until < now,
            _RUNS.lost_claims + 1 >= n,
        )
        if self._engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)  # never wait for another claimer
        return (
            update(job_runs)
            .where(_RUNS.id.in_(pick.scalar_subquery()))
            .values(
                status="failed", error=error, finished_at=now, lease_owner=None, lease_until=None
            )
        )

    async def claim_due(
        self,
        owner: str,
        job_ids: Sequence[str],
        limit: int,
        now: datetime,
        lease_seconds: float,
    ) -> list[ClaimedRun]:
        """Claim up to ``limit`` runs that are queued, waiting and due, or running on a lease
        that ran out (their worker died). PostgreSQL skips rows another worker is claiming."""
        if limit <= 0 or not job_ids:
            return []
        # Most wake-ups find nothing: look first without taking SQLite's write lock.
        probe = select(_RUNS.id).where(self._due(now), _RUNS.job_id.in_(job_ids)).limit(1)
        async with self._engine.connect() as conn:
            if (await conn.execute(probe)).first() is None:
                return []
        pick = (
            select(_RUNS.id)
            .where(self._due(now), _RUNS.job_id.in_(job_ids))
            .order_by(_RUNS.created_at)
            .limit(limit)
        )
        if self._engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        statement = (
            update(job_runs)
            .where(_RUNS.id.in_(pick.scalar_subquery()))
            .values(**self._take(owner, now, lease_seconds))
            .returning(*_CLAIM_COLUMNS)
        )
        async with self.writer.transaction() as conn:
            await conn.execute(self._give_up(now, _RUNS.job_id.in_(job_ids)))
            rows = (await conn.execute(statement)).all()
        return [_claimed(r) for r in rows]

    async def claim(
        self, run_id: str, owner: str, now: datetime, lease_seconds: float
    ) -> ClaimedRun | None:
        """Claim one given run if it is due (for an engine that pushes run ids to workers)."""
        statement = (
            update(job_runs)
            .where(_RUNS.id == run_id, self._due(now))
            .values(**self._take(owner, now, lease_seconds))
            .returning(*_CLAIM_COLUMNS)
        )
        async with self.writer.transaction() as conn:
            await conn.execute(self._give_up(now, _RUNS.id == run_id))
            row = (await conn.execute(statement)).first()
        return _claimed(row) if row else None

    async def _held(
        self, run_id: str, owner: str, values: dict[str, Any], *, wake: bool = False
    ) -> bool:
        statement = (
            update(job_runs)
            .where(_RUNS.id == run_id, _RUNS.lease_owner == owner, _RUNS.status == "running")
            .values(**values)
        )
        async with self.writer.transaction() as conn:
            held = bool((await conn.execute(statement)).rowcount)
            if held and wake and self._notify:
                await conn.execute(NOTIFY)
            return held

    async def renew(self, run_id: str, owner: str, now: datetime, lease_seconds: float) -> bool:
        """Extend the lease; False when it is lost (cancelled or taken over)."""
        return await self._held(
            run_id, owner, {"lease_until": now + timedelta(seconds=lease_seconds)}
        )

    async def finish(
        self,
        run_id: str,
        owner: str,
        status: RunStatus,
        now: datetime,
        *,
        output: Any = None,
        error: str | None = None,
    ) -> bool:
        values = {"status": status, "output": output, "error": error, "finished_at": now}
        return await self._held(run_id, owner, {**values, "lease_owner": None, "lease_until": None})

    async def suspend(self, run_id: str, owner: str, resume_at: datetime) -> bool:
        # The run got somewhere durable: the count of lost claims in a row starts again.
        values = {"status": "waiting", "resume_at": resume_at, "lost_claims": 0}
        return await self._held(run_id, owner, {**values, "lease_owner": None, "lease_until": None})

    async def release(self, run_id: str, owner: str) -> bool:
        """Give a run back to the queue (the worker is stopping); it resumes elsewhere."""
        values = {"status": "queued", "lease_owner": None, "lease_until": None}
        return await self._held(run_id, owner, values, wake=True)

    async def cancel(self, run_id: str, now: datetime) -> bool:
        statement = (
            update(job_runs)
            .where(_RUNS.id == run_id, _RUNS.status.in_(LIVE_STATUSES))
            .values(
                status="cancelled",
                finished_at=now,
                error="cancelled",
                lease_owner=None,
                lease_until=None,
            )
        )
        async with self.writer.transaction() as conn:
            return bool((await conn.execute(statement)).rowcount)

    # -- tasks and logs ---------------------------------------------------------------------

    async def history(self, run_id: str) -> tuple[dict[str, TaskRecord], int]:
        """What a resumed run replays against: its tasks by key, and how many logs it wrote."""
        tasks_query = select(job_tasks).where(_TASKS.run_id == run_id).order_by(_TASKS.seq)
        logs_query = select(func.count()).where(job_run_logs.c.run_id == run_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(tasks_query)).mappings().all()
            logs = int((await conn.execute(logs_query)).scalar_one())
        return {r["key"]: _task(r) for r in rows}, logs

    async def save_task(self, run_id: str, owner: str, task: TaskRecord) -> None:
        """Insert or update a task, if this worker still holds the run (one statement: the
        row comes from a SELECT that finds nothing once the lease is lost)."""
        params = {f"v_{k}": v for k, v in asdict(task).items()}
        async with self.writer.transaction() as conn:
            result = await conn.execute(
                self._save_task, {**params, "v_run_id": run_id, "owner": owner}
            )
            if not result.rowcount:
                raise LeaseLost(run_id)

    async def add_log(self, run_id: str, at: datetime, level: str, message: str, data: Any) -> None:
        values = {"run_id": run_id, "at": at, "level": level, "message": message, "data": data}
        async with self.writer.transaction() as conn:
            await conn.execute(job_run_logs.insert().values(**values))

    # -- reads ------------------------------------------------------------------------------

    async def due_count(self, now: datetime) -> int:
        """Runs waiting for a worker now (the queue-depth gauge)."""
        async with self._engine.connect() as conn:
            value = await conn.scalar(select(func.count()).where(self._due(now)))
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
        limit: int = 50,
    ) -> list[RunSummary]:
        query = select(job_runs).order_by(_RUNS.created_at.desc(), _RUNS.id.desc()).limit(limit)
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
