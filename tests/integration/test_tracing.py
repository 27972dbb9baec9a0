"""One trace from a request to a job run to its Slack call, with OpenTelemetry's in-memory
exporter: the management API request that starts a run, the run's span (its child, carrying the
account and principal ids), the task's span and the HTTP call slack_sdk makes through aiohttp,
and database statements; no span attribute holds the Slack token or the bearer token.

A run executed by a real ``authward worker`` process continues the same trace: the worker
exports its spans over OTLP to a receiver here, and the run's span is a child of the span that
queued it. A run whose stored trace context is garbage, or that was queued outside any span,
starts a trace of its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from authward.config import load_app
from authward.integrations import Slack
from authward.jobs import Io, JobClient, RunContext, event_trigger, find_job_clients
from authward.observability.otel import Tracing, start_tracing
from authward.runtime import Authward
from authward.server.app import build_app
from tests.integration.jobs_processes import Proc, running_processes, spawn, write_app
from tests.integration.jobs_support import bind, wait_for
from tests.peers.asgi import serve_asgi
from tests.peers.otlp import OtlpPeer
from tests.peers.slack_api import SlackPeer
from tests.secret_scan import SCAN

BOT_TOKEN = "xoxb-traced-" + "5" * 32
SCAN.secret(BOT_TOKEN, "Slack token (test_tracing)")
STATE = "state-" + "q" * 32


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()  # later spans of this process's provider are dropped


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Iterator[Tracing]:
    tracing = start_tracing(endpoint=None, service_name="authward-test", exporter=exporter)
    assert tracing is not None
    yield tracing
    tracing.stop()


@pytest.fixture
async def peer() -> AsyncIterator[SlackPeer]:
    peer = SlackPeer(tokens={BOT_TOKEN: "U_BOT"})
    async with peer.serve():
        yield peer


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def _announce(aw: Authward, http: httpx.AsyncClient, account_id: str) -> str:
    """Start a run of the ``announce`` job through the management API as its admin, and wait
    until it succeeded; the admin's token."""
    token = await aw.machine_user_token("admin-machine-user")
    started = await http.post(
        "/v1/jobs/announce/test",
        json={"payload": {}, "account_id": account_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert started.status_code == 201, started.text
    run = await wait_for(aw, started.json()["id"])
    assert run.status == "succeeded", run.error
    return token


def _request_span(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    (request,) = [
        s for s in spans if s.name == "POST /v1/jobs/{job_id}/test" and s.kind.name == "SERVER"
    ]
    return request


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    """The span's parent, its parent's parent... up to the root, as far as they were exported."""
    found: list[ReadableSpan] = []
    parent = by_id.get(_parent(span) or 0)
    while parent is not None:
        found.append(parent)
        parent = by_id.get(_parent(parent) or 0)
    return found


async def test_request_to_job_to_slack_is_one_trace(
    database_url: str,
    settings_for: Any,
    example_config: Any,
    tracing: Tracing,
    exporter: InMemorySpanExporter,
    peer: SlackPeer,
) -> None:
    settings = settings_for(database_url, admin_machine_users="admin-machine-user")
    aw = await Authward.open(example_config, settings, migrate=True)
    try:
        tracing.instrument_engine(aw.engine)
        client = JobClient(id="app")
        slack = Slack(id="our-slack", token=BOT_TOKEN, base_url=peer.api_url)

        @client.job(
            id="announce",
            name="Announce",
            version="1",
            trigger=event_trigger(name="announce"),
            integrations={"slack": slack},
        )
        async def announce(payload: Any, io: Io, ctx: RunContext) -> Any:
            sent = await io.slack.post_message("📢", channel="C0GENERAL", text="hello")
            return sent["ts"]

        await bind(aw, client)
        transport = httpx.ASGITransport(app=build_app(aw))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            # A query string may carry a code or a state: no span keeps it.
            await http.get(f"/oauth2/authorize?client_id=nobody&state={STATE}")
            token = await _announce(aw, http, "acct_42")
    finally:
        await aw.close()

    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    request = _request_span(spans)
    (job,) = [s for s in spans if s.name == "job.run announce"]
    (task,) = [s for s in spans if s.name == "integration our-slack slack.chat.postMessage"]
    (call,) = [
        s
        for s in spans
        if s.kind.name == "CLIENT"
        and str(s.attributes.get("url.full", s.attributes.get("http.url"))).startswith(peer.api_url)
    ]
    # One trace: request -> run -> task -> HTTP call.
    assert {s.context.trace_id for s in (request, job, task, call)} == {request.context.trace_id}
    assert _parent(task) == job.context.span_id
    assert _parent(call) == task.context.span_id
    assert request in _ancestors(job, by_id)
    # Who it ran for, by id.
    assert job.attributes["authward.account.id"] == "acct_42"
    assert job.attributes["authward.principal.id"]
    assert job.attributes["authward.run.status"] == "succeeded"
    # The request.s own spans name the machine user that started the run.
    assert job.attributes["authward.principal.id"] in {
        s.attributes.get("authward.principal.id")
        for s in spans
        if s.context.trace_id == request.context.trace_id and s is not job
    }
    # Statements of the store are spans of the same trace.
    assert any(
        s.attributes.get("db.statement")
        for s in spans
        if s.context.trace_id == request.context.trace_id
    )
    # No secret in any span.
    dumped = json.dumps([s.to_json() for s in spans])
    assert BOT_TOKEN not in dumped
    assert STATE not in dumped
    assert any(s.name == "GET /oauth2/authorize" for s in spans)
    assert token not in dumped


TRACED_APP = """
from app import config  # noqa: F401 - the app's config, found by `--app`

from authward.jobs import JobClient, event_trigger

client = JobClient(id="traced")


@client.job(id="announce", name="Announce", version="1", trigger=event_trigger(name="announce"))
async def announce(payload, io, ctx):
    return await io.run_task("compose", lambda: "hello")
"""


@pytest.fixture
def workers() -> Iterator[list[Proc]]:
    yield from running_processes()


async def test_a_run_executed_by_a_worker_process_continues_the_queuing_trace(
    postgres_url: str,
    settings_for: Any,
    tmp_path: Path,
    tracing: Tracing,
    exporter: InMemorySpanExporter,
    workers: list[Proc],
) -> None:
    app = write_app(tmp_path, "traced_app.py", TRACED_APP)
    config, module = load_app(app)
    settings = settings_for(postgres_url, admin_machine_users="admin-machine-user")
    aw = await Authward.open(config, settings, migrate=True)
    collector = OtlpPeer()
    try:
        aw.jobs.bind(find_job_clients(module))  # this process queues, never executes
        async with serve_asgi(collector.app()) as endpoint:
            worker = spawn(workers, app, postgres_url, "w-traced", AUTHWARD_OTLP_ENDPOINT=endpoint)
            transport = httpx.ASGITransport(app=build_app(aw))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                await _announce(aw, http, "acct_7")
            worker.proc.terminate()  # a stopping worker flushes its spans
            assert await asyncio.to_thread(worker.proc.wait, 60) == 0, worker.logs()
    finally:
        await aw.close()

    here = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in here}
    request = _request_span(here)
    # The span current when the run was queued: the handler's, within the request.
    (handler,) = [
        s
        for s in here
        if s.name == "fastapi.endpoint"
        and str(s.attributes.get("code.function.name")).endswith(".start_test_run")
    ]
    (executed,) = [s for s in collector.spans if s.name == "job.run announce"]
    (task,) = [s for s in collector.spans if s.name == "job.task compose"]
    assert int.from_bytes(executed.trace_id) == request.context.trace_id
    assert int.from_bytes(executed.parent_span_id) == handler.context.span_id
    assert _ancestors(handler, by_id)[-1] is request
    assert task.trace_id == executed.trace_id
    assert task.parent_span_id == executed.span_id


async def test_a_run_without_a_usable_trace_context_starts_its_own_trace(
    database_url: str,
    settings_for: Any,
    example_config: Any,
    tracing: Tracing,
    exporter: InMemorySpanExporter,
) -> None:
    aw = await Authward.open(example_config, settings_for(database_url), migrate=True)
    try:
        client = JobClient(id="app")

        @client.job(id="tick", name="Tick", version="1", trigger=event_trigger(name="tick"))
        async def tick(payload: Any, io: Io, ctx: RunContext) -> None:
            return None

        await bind(aw, client, worker=False)
        with trace.get_tracer("test").start_as_current_span("queuing") as queuing:
            garbled = (await aw.jobs.send_event({"name": "tick"})).run_ids[0]
        untraced = (await aw.jobs.send_event({"name": "tick"})).run_ids[0]
        async with aw.engine.begin() as conn:
            stored = dict(
                (await conn.execute(text("SELECT id, traceparent FROM aw_job_runs"))).all()
            )
            # Outside any span nothing is stored.
            assert stored == {garbled: stored[garbled], untraced: None}
            assert stored[garbled].startswith("00-")
            await conn.execute(
                text("UPDATE aw_job_runs SET traceparent = :garbage WHERE id = :id"),
                {"garbage": "00-not-a-trace-context-01", "id": garbled},
            )
        await aw.jobs.start(worker=True, scheduler=False)
        for run_id in (garbled, untraced):
            run = await wait_for(aw, run_id)
            assert run.status == "succeeded", run.error
    finally:
        await aw.close()

    runs = {
        s.attributes["authward.run.id"]: s
        for s in exporter.get_finished_spans()
        if s.name == "job.run tick"
    }
    assert set(runs) == {garbled, untraced}
    for span in runs.values():
        assert span.parent is None
        assert span.context.trace_id != queuing.get_span_context().trace_id
    assert runs[garbled].context.trace_id != runs[untraced].context.trace_id
