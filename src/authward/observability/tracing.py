"""Spans authward makes itself (job runs, tasks), on the OpenTelemetry API only.

Without a configured SDK (``observability/otel.py``, the ``otel`` extra) every call here is
OpenTelemetry's no-op. Requests, statements and HTTP calls get their spans from the ASGI,
SQLAlchemy, httpx and aiohttp instrumentations; this module adds what they cannot see.

A run is executed after the request that queued it has ended, maybe in another process. When
it is executed in the process that queued it, its span is a child of the queuing span (the
request's), so one trace shows request → run → tasks → HTTP calls; the queuing span's context
is kept in memory (at most ``_ORIGINS_KEPT`` runs), not in the database."""

from __future__ import annotations

__all__ = ["identify", "remember_origin", "run_span", "task_span", "tracer"]

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode

tracer = trace.get_tracer("authward")

_ORIGINS_KEPT = 10_000
_origins: OrderedDict[str, SpanContext] = OrderedDict()


def remember_origin(run_id: str) -> None:
    """The current span (a request's, a parent run's) becomes the parent of run ``run_id``."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return
    _origins[run_id] = context
    while len(_origins) > _ORIGINS_KEPT:
        _origins.popitem(last=False)


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
def run_span(job_id: str, run_id: str, attempt: int) -> Iterator[Span]:
    origin = _origins.pop(run_id, None)
    parent = trace.set_span_in_context(NonRecordingSpan(origin)) if origin else None
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
