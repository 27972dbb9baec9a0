"""One trace from a request to a job run to its Slack call, with OpenTelemetry's in-memory
exporter: the management API request that starts a run, the run's span (its child, carrying the
account and principal ids), the task's span and the HTTP call slack_sdk makes through aiohttp,
and database statements; no span attribute holds the Slack token or the bearer token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from authward.integrations import Slack
from authward.jobs import Io, JobClient, RunContext, event_trigger
from authward.observability.otel import Tracing, start_tracing
from authward.runtime import Authward
from authward.server.app import build_app
from tests.integration.jobs_support import bind, wait_for
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
        token = await aw.machine_user_token("admin-machine-user")
        transport = httpx.ASGITransport(app=build_app(aw))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            # A query string may carry a code or a state: no span keeps it.
            await http.get(f"/oauth2/authorize?client_id=nobody&state={STATE}")
            started = await http.post(
                "/v1/jobs/announce/test",
                json={"payload": {}, "account_id": "acct_42"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert started.status_code == 201, started.text
        run = await wait_for(aw, started.json()["id"])
        assert run.status == "succeeded", run.error
    finally:
        await aw.close()

    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    (request,) = [
        s for s in spans if s.name == "POST /v1/jobs/{job_id}/test" and s.kind.name == "SERVER"
    ]
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
    ancestor = by_id.get(_parent(job) or 0)
    while ancestor is not None and ancestor is not request:
        ancestor = by_id.get(_parent(ancestor) or 0)
    assert ancestor is request
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
