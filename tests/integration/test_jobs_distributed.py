"""Distributed execution on PostgreSQL (decision 046): several `authward worker` processes on one
database share DBOS's queue; each run executed once, a server with its worker off leaves every
run to them, each schedule occurrence fired once (its run id is made of the occurrence), a
PostgreSQL restart mid-run loses nothing, and two workers cannot share an id. A worker killed
mid-run is in test_jobs_worker_process.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from authward.config import load_app
from authward.jobs import JobClient, JobsRuntime, find_job_clients, interval_trigger
from authward.jobs.scheduler import occurrence_run_id
from authward.runtime import Authward
from tests.conftest import SettingsFactory
from tests.integration.jobs_processes import Proc, running_processes, spawn, write_app
from tests.integration.jobs_support import (
    FakeClock,
    create_counter,
    effects,
    table_count,
    wait_for,
    wait_until,
)
from tests.private_postgres import PrivatePostgres, private_postgres

JOBS_APP = """
import asyncio
import os

from app import config  # noqa: F401 - the app's config, found by `--app`
from sqlalchemy import text

from authward.jobs import JobClient, event_trigger
from authward.store.engine import create_engine

client = JobClient(id="distributed-test")


async def sql(url, statement, **params):
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


async def bump(url, name):
    await sql(url, "INSERT INTO effects (name, n) VALUES (:n, 1) "
                   "ON CONFLICT (name) DO UPDATE SET n = effects.n + 1", n=name)
    return name


async def until(url, statement):
    for _ in range(6000):  # the test fails on its own cap long before
        try:
            if await sql(url, statement):
                return True
        except Exception:  # the connection was cut by the test: ask again
            pass
        await asyncio.sleep(0.02)
    raise RuntimeError("never: " + statement)


@client.job(id="count", name="Count", version="1", trigger=event_trigger(name="count"))
async def count(payload, io, ctx):
    await io.run_task("bump", lambda: bump(payload["db"], ctx.id))
    await asyncio.sleep(payload.get("busy", 0))  # long enough that one worker cannot keep up
    return os.getpid()


@client.job(id="charge", name="Charge", version="1", trigger=event_trigger(name="charge"))
async def charge(payload, io, ctx):
    db = payload["db"]
    await io.run_task("charge-card", lambda: bump(db, "charge"))
    if payload.get("gate"):
        await io.run_task("gate", lambda: until(
            db, "SELECT count(*) > 0 FROM effects WHERE name = 'gate'"))
    await io.run_task("receipt", lambda: bump(db, "receipt"))
    return os.getpid()
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    write_app(tmp_path, "distributed_app.py", JOBS_APP)
    return tmp_path


@pytest.fixture
def workers() -> Iterator[list[Proc]]:
    yield from running_processes()


def start_workers(
    workers: list[Proc],
    app_dir: Path,
    url: str,
    count: int,
    command: str = "worker",
    marker: str = "authward: worker",
    app: str = "distributed_app.py",
    **env: str,
) -> list[Proc]:
    """``count`` more processes, each with its own worker id, one run at a time each."""
    env = {"AUTHWARD_JOBS_CONCURRENCY": "1", **env}
    return [
        spawn(
            workers, app_dir / app, url, f"w{len(workers)}", command=command, marker=marker, **env
        )
        for _ in range(count)
    ]


@pytest.fixture
async def sender(
    postgres_url: str, settings_for: SettingsFactory, app_dir: Path
) -> AsyncIterator[Authward]:
    """This process only queues runs (its worker is never started), like `authward serve` with
    AUTHWARD_JOBS_WORKER=0; the workers get them from DBOS's queue."""
    config, module = load_app(app_dir / "distributed_app.py")
    settings = settings_for(postgres_url)
    aw = await Authward.open(config, settings, migrate=True)
    try:
        await create_counter(aw)
        aw.jobs.bind(find_job_clients(module))
        yield aw
    finally:
        await aw.close()


async def send(aw: Authward, name: str, db: str, **payload: Any) -> str:
    sent = await aw.jobs.send_event({"name": name, "payload": {"db": db, **payload}})
    return sent.run_ids[0]


async def test_two_workers_share_a_batch_and_execute_each_run_once(
    sender: Authward, postgres_url: str, app_dir: Path, workers: list[Proc]
) -> None:
    pair = start_workers(workers, app_dir, postgres_url, 2)

    counts = [await send(sender, "count", postgres_url, busy=0.2) for _ in range(20)]
    finished = [await wait_for(sender, run_id) for run_id in counts]

    assert [r.status for r in finished] == ["succeeded"] * 20, finished[0].error
    assert {r.output for r in finished} == {w.pid for w in pair}  # both took part
    assert all(r.attempts == 1 for r in finished)
    counted = await effects(sender)
    assert {run_id: counted.get(run_id) for run_id in counts} == dict.fromkeys(counts, 1)


async def test_a_server_with_its_worker_off_leaves_every_run_to_the_workers(
    sender: Authward, postgres_url: str, app_dir: Path, workers: list[Proc]
) -> None:
    (server,) = start_workers(
        workers,
        app_dir,
        postgres_url,
        1,
        command="serve",
        marker="worker off",
        AUTHWARD_JOBS_WORKER="0",
    )
    (worker,) = start_workers(workers, app_dir, postgres_url, 1, AUTHWARD_JOBS_CONCURRENCY="5")

    runs = [await wait_for(sender, await send(sender, "count", postgres_url)) for _ in range(10)]

    assert {(r.status, r.output) for r in runs} == {("succeeded", worker.pid)}
    assert server.proc.poll() is None


async def test_a_second_worker_with_the_id_of_a_live_one_refuses(
    sender: Authward, postgres_url: str, app_dir: Path, workers: list[Proc]
) -> None:
    fast = {"AUTHWARD_JOBS_RECOVERY_SECONDS": "3"}
    (first,) = start_workers(workers, app_dir, postgres_url, 1, **fast)
    app = app_dir / "distributed_app.py"
    twin = spawn(workers, app, postgres_url, first.worker_id, marker=None, **fast)

    assert await asyncio.to_thread(twin.proc.wait, 60) != 0
    assert "worker id 'w0' is in use by a running worker" in twin.logs()
    assert "AUTHWARD_JOBS_WORKER_ID or --worker-id" in twin.logs()
    run = await wait_for(sender, await send(sender, "count", postgres_url))
    assert (run.status, run.output) == ("succeeded", first.pid)  # the first one carries on


def scheduled_client() -> JobClient:
    """The same app as each process would import it."""
    client = JobClient(id="schedules")
    dynamic = client.define_dynamic_schedule(id="reports")

    async def run(payload: Any, io: Any, ctx: Any) -> None:
        return None

    client.define_job(
        id="every-minute",
        name="Every minute",
        version="1",
        trigger=interval_trigger(seconds=60),
        run=run,
    )
    client.define_job(id="report", name="Report", version="1", trigger=dynamic, run=run)
    return client


async def test_each_schedule_occurrence_fires_once_however_many_processes_tick(
    postgres_url: str, settings_for: SettingsFactory, example_config: Any
) -> None:
    clock = FakeClock()
    settings = settings_for(postgres_url)
    servers = [await Authward.open(example_config, settings, migrate=True) for _ in range(4)]
    try:
        runtimes = []
        for aw in servers:
            aw.jobs = JobsRuntime(aw.jobs.ports, [scheduled_client()], clock=clock)
            await aw.jobs.start(worker=False, scheduler=False)
            runtimes.append(aw.jobs)
        reports = runtimes[0].dynamic_schedules["reports"]
        await reports.register(
            "schedule_123",
            {"type": "interval", "options": {"seconds": 120}, "account_id": "user_123"},
        )
        queued: list[str] = []
        for _ in range(10):
            clock.advance(60)
            ticks = await asyncio.gather(*(rt.scheduler.tick(clock.now) for rt in runtimes))
            queued.extend(run_id for tick in ticks for run_id in tick)

        runs = await runtimes[0].list_runs(limit=100)
        assert sorted(r.id for r in runs) == sorted(queued)
        minutes = [r for r in runs if r.job_id == "every-minute"]
        report_runs = [r for r in runs if r.job_id == "report"]
        assert len(minutes) == 10
        assert len(report_runs) == 5
        assert {r.account_id for r in report_runs} == {"user_123"}
        details = [await runtimes[0].get_run(r.id) for r in minutes + report_runs]
        occurrences = [(d.job_id, d.payload["ts"]) for d in details if d is not None]
        assert len(set(occurrences)) == 15
        # Each run's id is made of its schedule, occurrence and job: one per occurrence.
        assert all(
            d.id == occurrence_run_id("job:every-minute", datetime.fromisoformat(ts), job)
            for d, (job, ts) in zip(details, occurrences, strict=True)
            if d is not None and job == "every-minute"
        )
    finally:
        for aw in servers:
            await aw.close()


SCHEDULE_APP = """
import os

from app import config  # noqa: F401
from sqlalchemy import text

from authward.jobs import JobClient, interval_trigger
from authward.store.engine import create_engine

client = JobClient(id="schedule-test")
reports = client.define_dynamic_schedule(id="reports")


UPSERT = text("INSERT INTO effects (name, n) VALUES (:n, 1) "
              "ON CONFLICT (name) DO UPDATE SET n = effects.n + 1")


async def bump(name):
    engine = create_engine(os.environ["AUTHWARD_DATABASE_URL"])
    try:
        async with engine.begin() as conn:
            await conn.execute(UPSERT, {"n": name})
    finally:
        await engine.dispose()


async def fired(payload, io, ctx):
    # The side effect of one occurrence, counted: exactly-once firing shows as n == 1.
    name = f"{ctx.job.id}:{payload['schedule_id']}@{payload['ts']}"
    await io.run_task("effect", lambda: bump(name))
    return os.getpid()


client.define_job(id="report", name="Report", version="1", trigger=reports, run=fired)
client.define_job(id="tick", name="Tick", version="1", trigger=interval_trigger(seconds=60),
                  run=fired)
"""


async def test_worker_processes_fire_each_schedule_occurrence_exactly_once(
    postgres_url: str, settings_for: SettingsFactory, app_dir: Path, workers: list[Proc]
) -> None:
    """Three `authward worker` processes, each with its scheduler, on one database. The
    schedules are registered on a clock set back so that their occurrences fall a few seconds
    after the workers start (the real clock then drives the workers): a burst of 20 due at the
    same instant, 20 more a quarter of a second apart, the job's own interval trigger, and a
    schedule that missed nine occurrences while nothing ran."""
    (app_dir / "schedule_app.py").write_text(SCHEDULE_APP)
    config, module = load_app(app_dir / "schedule_app.py")
    aw = await Authward.open(config, settings_for(postgres_url), migrate=True)
    try:
        await create_counter(aw)
        now = datetime.now(UTC)
        burst_at = now + timedelta(seconds=6)
        clock = FakeClock(burst_at - timedelta(seconds=60))
        # This process never starts a worker or a scheduler; it only writes the schedules.
        aw.jobs = JobsRuntime(aw.jobs.ports, find_job_clients(module), clock=clock)
        await aw.jobs.start(worker=False, scheduler=False)  # the "tick" job's anchor: clock
        expected = {("tick", None, burst_at)}
        for n in range(40):
            clock.now = burst_at - timedelta(seconds=60) + timedelta(seconds=0.25 * max(0, n - 19))
            await module.reports.register(f"s{n}", {"type": "interval", "options": {"seconds": 60}})
            expected.add(("report", f"s{n}", clock.now + timedelta(seconds=60)))
        clock.now = now - timedelta(seconds=605)  # occurrences every minute, the last 5 s ago
        await module.reports.register("missed", {"type": "interval", "options": {"seconds": 60}})
        expected.add(("report", "missed", now - timedelta(seconds=5)))

        started = start_workers(workers, app_dir, postgres_url, 3, app="schedule_app.py")
        for _ in range(2000):  # only turns a hang into a failure
            if await table_count(aw, "effects") >= len(expected):
                break
            await asyncio.sleep(0.05)
        for worker in started:
            worker.proc.terminate()  # stops cleanly: nothing fires after this
            worker.proc.communicate(timeout=30)

        runs = [await aw.jobs.get_run(r.id) for r in await aw.jobs.list_runs(limit=1000)]
        occurrences = [
            (r.job_id, r.payload["schedule_id"], datetime.fromisoformat(r.payload["ts"]))
            for r in runs
            if r is not None
        ]
        assert len(occurrences) == len(set(occurrences))  # no occurrence fired twice
        assert expected <= set(occurrences)
        missed = [ts for job, key, ts in occurrences if key == "missed"]
        assert min(missed) == now - timedelta(seconds=5)  # the 9 older ones never fired
        assert {r.status for r in runs if r is not None} == {"succeeded"}
        assert {r.output for r in runs if r is not None} <= {w.pid for w in started}
        ticks = [r for r in runs if r is not None and r.job_id == "tick"]
        assert ticks
        assert all(
            r.id == occurrence_run_id("job:tick", datetime.fromisoformat(r.payload["ts"]), "tick")
            for r in ticks
        )
        counted = await effects(aw)
        assert len(counted) == len(occurrences)
        assert set(counted.values()) == {1}  # each occurrence's effect happened once
    finally:
        await aw.close()


@pytest.fixture
def own_postgres() -> Iterator[PrivatePostgres]:
    yield from private_postgres()


async def test_a_run_in_progress_completes_after_postgresql_restarts(
    own_postgres: PrivatePostgres,
    settings_for: SettingsFactory,
    app_dir: Path,
    workers: list[Proc],
) -> None:
    """A real restart of a server of the test's own (never the shared one): every connection
    cut, new ones refused while it is down, then the same database back."""
    admin = await asyncpg.connect(own_postgres.url)
    try:
        await admin.execute('CREATE DATABASE "jobs"')
    finally:
        await admin.close()
    url = own_postgres.url.rpartition("/")[0] + "/jobs"
    config, module = load_app(app_dir / "distributed_app.py")
    aw = await Authward.open(config, settings_for(url), migrate=True)
    try:
        await create_counter(aw)
        aw.jobs.bind(find_job_clients(module))  # this process only sends
        start_workers(
            workers,
            app_dir,
            url,
            2,
            AUTHWARD_JOBS_POLL_SECONDS="0.5",
        )
        run_id = await send(aw, "charge", url, gate=True)
        # The gate task shows as running once it ran a while: charge-card is recorded by then.
        running = ["succeeded", "running"]
        await wait_until(aw, run_id, lambda r: [t.status for t in r.tasks] == running)

        own_postgres.stop()  # the run is in its "gate" task, charge-card done
        await asyncio.sleep(2)  # down for a while: the workers' reconnects are refused
        own_postgres.start()
        await aw.engine.dispose()  # this process's pooled connections died with the server
        async with aw.engine.begin() as conn:
            await conn.execute(text("INSERT INTO effects VALUES ('gate', 1)"))
        run = await wait_for(aw, run_id)

        assert run.status == "succeeded", run.error
        assert await effects(aw) == {"charge": 1, "receipt": 1, "gate": 1}
        assert [(t.key, t.status) for t in run.tasks] == [
            ("charge-card", "succeeded"),
            ("gate", "succeeded"),
            ("receipt", "succeeded"),
        ]
        assert all(w.proc.poll() is None for w in workers)  # no worker gave up
        after = await wait_for(aw, await send(aw, "count", url))
        assert after.status == "succeeded", after.error
    finally:
        await aw.close()
