"""Spans authward makes itself (job runs, tasks), on the OpenTelemetry API only.

Without a configured SDK (``observability/otel.py``, the ``otel`` extra) every call here is
OpenTelemetry's no-op. Requests, statements and HTTP calls get their spans from the ASGI,
SQLAlchemy, httpx and aiohttp instrumentations; this module adds what they cannot see.

A run is executed after the request that queued it has ended, often in another process (an
``authward worker``). So the W3C trace context of the span that queued it (a request's, a parent
run's) is stored with the run, and every execution of the run is that span's child, wherever it
executes: one trace shows request → run → tasks → HTTP calls (decision 053)."""

from __future__ import annotations

__all__ = ["identify", "queuing_context", "run_span", "task_span", "tracer"]

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

tracer = trace.get_tracer("authward")

#: W3C Trace Context whatever propagator the process configured: the stored form stays one.
_W3C = TraceContextTextMapPropagator()
_MAX_TRACESTATE = 512


def queuing_context() -> tuple[str | None, str | None]:
    """The current span's ``traceparent`` and ``tracestate``, for a run queued now to store;
    (None, None) when no span is current (no SDK configured, or outside any request)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)  # writes nothing for an invalid span context
    state = carrier.get("tracestate")
    # The state can come from a caller's header and is stored with every run: past the 512
    # characters W3C Trace Context lets a vendor cut at, it is dropped (the trace is kept).
    if state is not None and len(state) > _MAX_TRACESTATE:
        state = None
    return carrier.get("traceparent"), state


def identify(
    span: Span | None = None,
    *,
    principal_id: str | None = None,
    account_id: str | None = None,
    client_id: str | None = None,
) -> None:
    """Who a span acted for, as attributes (ids only: never a token, secret or claim)."""
    target = span or trace.get_current_span()
    if not target.is_recording():
        return
    for name, value in (
        ("authward.principal.id", principal_id),
        ("authward.account.id", account_id),
        ("authward.client.id", client_id),
    ):
        if value is not None:
            target.set_attribute(name, value)


@contextmanager
def run_span(
    job_id: str, run_id: str, attempt: int, traceparent: str | None, tracestate: str | None
) -> Iterator[Span]:
    """The span of one execution of a run: a child of the span whose context the run stored
    (:func:`queuing_context`), or the root of a trace of its own when it stored none, or one
    that does not parse."""
    carrier = {"traceparent": traceparent or "", "tracestate": tracestate or ""}
    # Extracted into an empty context, not the current one: whatever this process is doing
    # when the run starts (a DBOS poll, another run) is no part of the run's trace.
    parent = _W3C.extract(carrier, context=Context())
    with tracer.start_as_current_span(
        f"job.run {job_id}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "authward.job.id": job_id,
            "authward.run.id": run_id,
            "authward.run.attempt": attempt,
        },
    ) as span:
        yield span


def run_ended(span: Span, status: str) -> None:
    span.set_attribute("authward.run.status", status)
    if status in ("failed", "timed_out"):
        span.set_status(Status(StatusCode.ERROR, status))


@contextmanager
def task_span(key: str, name: str, integration: str | None) -> Iterator[Span]:
    attributes = {"authward.task.key": key}
    if integration is not None:
        attributes["authward.integration.id"] = integration
    with tracer.start_as_current_span(
        f"job.task {name}" if integration is None else f"integration {integration} {name}",
        attributes=attributes,
    ) as span:
        yield span
