"""The JSON and text log formats: the fields a log pipeline reads, the request and trace ids of
the record's context, and an exception named by its type alone (never its message or trace)."""

from __future__ import annotations

import json
import logging
import sys

from opentelemetry.sdk.trace import TracerProvider

from authward.observability.logs import JsonFormatter, TextFormatter, request_id


def _record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("token=abc123-should-not-appear")
        except ValueError:
            info = sys.exc_info()
    record = logging.LogRecord("authward.test", logging.WARNING, __file__, 1, msg, args, info)
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_the_fields_and_the_request_id() -> None:
    with request_id("r-1"):
        line = JsonFormatter().format(
            _record("%s done", "run", route="/x", status=200, secret_thing="kept out")
        )
    data = json.loads(line)
    assert data["message"] == "run done"
    assert data["level"] == "warning"
    assert data["logger"] == "authward.test"
    assert data["request_id"] == "r-1"
    assert data["route"] == "/x"
    assert data["status"] == 200
    assert "secret_thing" not in data
    assert "trace_id" not in data


def test_exceptions_are_named_by_type_only() -> None:
    for formatter in (JsonFormatter(), TextFormatter()):
        text = formatter.format(_record("failed", exc=True))
        assert "ValueError" in text
        assert "abc123" not in text
        assert "Traceback" not in text


def test_trace_ids_of_the_current_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        data = json.loads(JsonFormatter().format(_record("inside")))
        text = TextFormatter().format(_record("inside"))
    context = span.get_span_context()
    assert data["trace_id"] == format(context.trace_id, "032x")
    assert data["span_id"] == format(context.span_id, "016x")
    assert f"trace_id={data['trace_id']}" in text
