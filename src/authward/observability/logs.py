"""Log records as one JSON object per line (or plain text), with the request id and trace ids.

``configure_logging`` is called by ``authward serve`` and ``authward worker`` only: an app that
runs authward inside its own process keeps its own logging setup. A record's exception is shown
by its type alone, never its traceback or message (they can carry request data)."""

from __future__ import annotations

__all__ = [
    "CURRENT_REQUEST_ID",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "configure_logging",
    "current_request_id",
    "request_id",
]

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

import msgspec
from opentelemetry import trace

LogFormat = Literal["json", "text"]

_encode = msgspec.json.Encoder(enc_hook=str).encode

#: The request id of the record's context (set by the server's middleware, or ``request_id``).
CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("authward_request_id", default=None)
_request_id = CURRENT_REQUEST_ID

#: What a call of ``log.info(..., extra={...})`` may add to the JSON object: the access log's
#: fields and a few of the jobs'. Anything else passed as ``extra`` stays out of the line.
_EXTRA_FIELDS = (
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "client",
    "job",
    "run_status",
)


def current_request_id() -> str | None:
    return _request_id.get()


@contextmanager
def request_id(value: str) -> Iterator[None]:
    """Every record logged inside carries ``request_id``."""
    token = _request_id.set(value)
    try:
        yield
    finally:
        _request_id.reset(token)


def _context_fields() -> dict[str, str]:
    fields: dict[str, str] = {}
    rid = _request_id.get()
    if rid is not None:
        fields["request_id"] = rid
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        fields["trace_id"] = format(context.trace_id, "032x")
        fields["span_id"] = format(context.span_id, "016x")
    return fields


def _exception_name(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[0] is not None:
        return record.exc_info[0].__name__
    return None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_context_fields())
        for name in _EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        exception = _exception_name(record)
        if exception is not None:
            line["exception"] = exception
        # msgspec (already the token payload parser): several times faster than json.dumps on
        # the access log's one line per request.
        return _encode(line).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        context = " ".join(f"{k}={v}" for k, v in _context_fields().items())
        exception = _exception_name(record)
        if exception is not None:
            text += f" ({exception})"
        return f"{text} [{context}]" if context else text


def configure_logging(fmt: LogFormat, level: str) -> None:
    """One handler on the root logger, writing to stderr; uvicorn's loggers go through it too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Alembic says "Context impl SQLiteImpl." at info on every run; the migrations applied are
    # printed by the commands themselves.
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
