"""What a queued run stores of the trace that queued it (observability/tracing.py)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from authward.observability.tracing import queuing_context


def _queued_under(state: TraceState) -> tuple[str | None, str | None]:
    context = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=state,
    )
    with trace.use_span(NonRecordingSpan(context)):
        return queuing_context()


def test_a_run_queued_outside_any_span_stores_nothing() -> None:
    assert queuing_context() == (None, None)


def test_a_run_stores_the_queuing_spans_traceparent_and_tracestate() -> None:
    with TracerProvider().get_tracer("test").start_as_current_span("request") as span:
        parent, state = queuing_context()
    ids = span.get_span_context()
    assert parent is not None
    assert parent.startswith(f"00-{ids.trace_id:032x}-{ids.span_id:016x}-")
    assert state is None
    assert _queued_under(TraceState([("vendor", "v1")])) == (
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "vendor=v1",
    )


def test_an_oversized_tracestate_from_a_caller_is_not_stored() -> None:
    # 31 entries of 20 characters: within W3C's 32 entries, over its 512 characters.
    entries = [(f"v{n:02d}", "x" * 16) for n in range(31)]
    parent, state = _queued_under(TraceState(entries))
    assert parent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert state is None
