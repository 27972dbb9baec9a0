"""/healthz, /readyz and /metrics of `build_app`, and the access log, on SQLite and PostgreSQL:
readiness fails for each check that fails (database, pending migrations, signing keys, the job
engine); metrics answer only the scraper's token."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import text

from authward.config import Config
from authward.jobs import Io, JobClient, RunContext, event_trigger
from authward.observability.logs import LogWriter
from authward.runtime import Authward
from authward.server.app import build_app
from authward.server.ops_routes import ops_routes
from authward.store.engine import create_engine
from authward.store.probes import SchemaProbe
from tests.conftest import SettingsFactory
from tests.secret_scan import SCAN

SCRAPER = "scraper-token-" + "x" * 32


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    runtime = await Authward.open(
        example_config, settings_for(database_url, metrics_token=SCRAPER), migrate=True
    )
    yield runtime
    await runtime.close()


@pytest.fixture
async def client(aw: Authward) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(aw))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_ready_when_every_check_passes(client: httpx.AsyncClient) -> None:
    answer = await client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "signing_keys": "ok", "jobs": "ok"},
    }
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_pending_migrations_make_it_unready(aw: Authward, client: httpx.AsyncClient) -> None:
    async with aw.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0016'"))
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert "run `authward migrate`" in checks["migrations"]
    assert checks["database"] == "ok"
    # Liveness does not depend on the schema: the process is alive.
    assert (await client.get("/healthz")).status_code == 200


async def test_missing_signing_keys_make_it_unready(
    aw: Authward, client: httpx.AsyncClient
) -> None:
    async with aw.engine.begin() as conn:
        await conn.execute(text("DELETE FROM aw_signing_keys"))
    aw.signing_keys.changed()
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["signing_keys"].startswith("no signing key")


async def test_a_stopped_job_worker_makes_it_unready(
    aw: Authward, client: httpx.AsyncClient
) -> None:
    jobs = JobClient(id="ops")

    @jobs.job(id="noop", name="noop", version="1", trigger=event_trigger(name="noop"))
    async def noop(payload: object, io: Io, ctx: RunContext) -> None:
        return None

    aw.jobs.bind([jobs])
    await aw.jobs.start()
    assert (await client.get("/readyz")).status_code == 200
    # The worker's liveness loop ends by itself (a bug, a crash): not ready until restarted.
    (loop,) = [t for t in asyncio.all_tasks() if t.get_name() == "authward worker liveness"]
    loop.cancel()
    await asyncio.wait({loop})
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["jobs"] == "the job worker stopped"


async def test_an_unreachable_database_makes_it_unready(aw: Authward) -> None:
    # A real engine on a port nothing listens on.
    gone = create_engine("postgresql+asyncpg://postgres:hunter2hunter2hunter2@127.0.0.1:9/none")
    probe = SchemaProbe(gone)
    routes = ops_routes(
        {"database": probe.database, "migrations": probe.migrations},
        jobs=aw.job_probe,
        metrics_token=None,
    )
    from starlette.applications import Starlette

    transport = httpx.ASGITransport(app=Starlette(routes=routes))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            answer = await c.get("/readyz")
    finally:
        await gone.dispose()
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["database"].startswith("unreachable")
    assert checks["migrations"].startswith("unreachable")
    assert "hunter2" not in answer.text
    assert "127.0.0.1" not in answer.text


async def test_metrics_answer_only_the_scrapers_token(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer " + "y" * 46})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    answer = await client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert (
        'authward_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}'
        in answer.text
    )
    assert "authward_job_queue_depth 0.0" in answer.text


async def test_metrics_without_a_token_are_closed_to_everyone(
    settings_for: SettingsFactory, example_config: Config, tmp_path: object
) -> None:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path}/m.db")
    runtime = await Authward.open(example_config, settings, migrate=True)
    try:
        transport = httpx.ASGITransport(app=build_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/metrics")).status_code == 401
            empty = await c.get("/metrics", headers={"Authorization": "Bearer "})
            assert empty.status_code == 401
    finally:
        await runtime.close()


async def test_metrics_moved_to_their_own_port_are_gone_from_the_main_one(
    settings_for: SettingsFactory, example_config: Config, tmp_path: object
) -> None:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path}/m.db", metrics_port=9464)
    runtime = await Authward.open(example_config, settings, migrate=True)
    try:
        transport = httpx.ASGITransport(app=build_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/metrics")).status_code == 404
    finally:
        await runtime.close()


async def test_access_log_names_the_route_not_the_query(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authward.access")
    answer = await client.get(
        "/oauth2/authorize?client_id=x&code_challenge=secretish",
        headers={"X-Request-ID": "req-42"},
    )
    assert answer.headers["x-request-id"] == "req-42"
    (record,) = [r for r in caplog.records if r.name == "authward.access"]
    assert record.__dict__["route"] == "/oauth2/authorize"
    assert record.__dict__["status"] == answer.status_code
    assert record.__dict__["method"] == "GET"
    assert "secretish" not in record.getMessage() + record.__dict__["path"]
    # An id the caller made up with odd characters is replaced by one of ours.
    odd = await client.get("/healthz", headers={"X-Request-ID": "a b\tc"})
    made = odd.headers["x-request-id"]
    assert made != "a b\tc"
    assert len(made) == 32
    assert int(made, 16) >= 0
    again = await client.get("/healthz")
    assert again.headers["x-request-id"] != made


@contextmanager
def served_access_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """The access logger as `authward serve` sets it up, its only destination a LogWriter: set
    up inside the test, after pytest attached its own capture handlers, which it takes off."""
    access, stream = logging.getLogger("authward.access"), io.StringIO()
    writer = LogWriter(stream, "json")
    kept = access.handlers, access.propagate, access.level
    access.handlers, access.propagate = [writer], False
    access.setLevel(logging.INFO)
    try:
        yield access, stream
    finally:
        access.handlers, access.propagate = kept[0], kept[1]
        access.setLevel(kept[2])
        writer.close()
        SCAN.text("logger 'authward.access', written by its LogWriter", stream.getvalue())


async def test_access_line_is_the_same_with_or_without_a_handler_of_the_apps(
    client: httpx.AsyncClient,
) -> None:
    path = "/oauth2/authorize?client_id=x&code_challenge=secretish"
    records: list[logging.LogRecord] = []
    app_handler = logging.Handler()
    app_handler.emit = records.append  # type: ignore[method-assign]
    with served_access_log() as (access, stream):
        await client.get(path, headers={"X-Request-ID": "alone"})
        access.addHandler(app_handler)
        await client.get(path, headers={"X-Request-ID": "shared"})
        access.removeHandler(app_handler)
        access.handlers[0].flush()
    # The app's handler got the record, fields included; the line was written all the same.
    (record,) = records
    assert record.__dict__["route"] == "/oauth2/authorize"
    alone, shared = (json.loads(line) for line in stream.getvalue().splitlines())
    assert list(alone) == list(shared)  # the same fields in the same order
    assert alone["request_id"] == "alone"
    assert shared["request_id"] == "shared"
    for line in (alone, shared):
        assert line["logger"] == "authward.access"
        assert line["level"] == "info"
        assert line["route"] == line["path"] == "/oauth2/authorize"
        assert line["message"].startswith(f"GET /oauth2/authorize {line['status']} ")
        assert "secretish" not in json.dumps(line)
    assert {k: v for k, v in alone.items() if k not in {"time", "message", "duration_ms"}} == {
        **{k: v for k, v in shared.items() if k not in {"time", "message", "duration_ms"}},
        "request_id": "alone",
    }


async def test_no_access_line_when_the_access_log_is_off(
    settings_for: SettingsFactory, example_config: Config, tmp_path: object
) -> None:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path}/quiet.db", access_log=False)
    runtime = await Authward.open(example_config, settings, migrate=True)
    try:
        transport = httpx.ASGITransport(app=build_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            with served_access_log() as (_, stream):
                answer = await c.get("/healthz", headers={"X-Request-ID": "quiet"})
        assert answer.headers["x-request-id"] == "quiet"
        assert stream.getvalue() == ""
    finally:
        await runtime.close()
