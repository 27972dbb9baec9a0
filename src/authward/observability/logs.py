"""Log records as one JSON object per line (or plain text), with the request id and trace ids.

``configure_logging`` is called by ``authward serve`` and ``authward worker`` only: an app that
runs authward inside its own process keeps its own logging setup. A record's exception is shown
by its type alone, never its traceback or message (they can carry request data)."""

from __future__ import annotations

__all__ = [
    "CURRENT_REQUEST_ID",
    "JsonFormatter",
    "LogFormat",
    "LogWriter",
    "TextFormatter",
    "configure_logging",
    "context_fields",
    "current_request_id",
    "request_id",
    "sole_writer",
]

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal, TextIO
from weakref import WeakSet

import msgspec
from opentelemetry import trace
from opentelemetry.trace import SpanContext

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


def context_fields(rid: str | None, span: SpanContext) -> dict[str, str]:
    """The request id and the trace and span ids a line carries."""
    fields: dict[str, str] = {}
    if rid is not None:
        fields["request_id"] = rid
    if span.is_valid:
        fields["trace_id"] = format(span.trace_id, "032x")
        fields["span_id"] = format(span.span_id, "016x")
    return fields


def _context_fields() -> dict[str, str]:
    return context_fields(_request_id.get(), trace.get_current_span().get_span_context())


def _exception_name(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[0] is not None:
        return record.exc_info[0].__name__
    return None


class _Clock:
    """A time format whose second is formatted once a second: ``isoformat`` and ``strftime``
    cost more than the rest of an access line together. ``{:03d}`` in the format takes the
    milliseconds."""

    def __init__(self, fmt: str, convert: Callable[[float], time.struct_time]) -> None:
        self._fmt, self._convert = fmt, convert
        self._second: tuple[int, str] = (-1, "")

    def __call__(self, created: float) -> str:
        second = int(created)
        if self._second[0] != second:
            self._second = (second, time.strftime(self._fmt, self._convert(second)))
        return self._second[1].format(int((created - second) * 1000))


_utc_time = _Clock("%Y-%m-%dT%H:%M:%S.{:03d}+00:00", time.gmtime)
#: logging.Formatter.formatTime's default.
_local_time = _Clock("%Y-%m-%d %H:%M:%S,{:03d}", time.localtime)


def _json_line(
    created: float,
    level: str,
    logger: str,
    message: str,
    context: dict[str, str],
    fields: dict[str, object],
) -> str:
    line: dict[str, object] = {
        "time": _utc_time(created),
        "level": level.lower(),
        "logger": logger,
        "message": message,
        **context,
        **fields,
    }
    # msgspec (already the token payload parser): several times faster than json.dumps on
    # the access log's one line per request.
    return _encode(line).decode()


def _text_line(
    created: float,
    level: str,
    logger: str,
    message: str,
    context: dict[str, str],
    exception: str | None = None,
) -> str:
    text = f"{_local_time(created)} {level} {logger}: {message}"
    if exception is not None:
        text += f" ({exception})"
    described = " ".join(f"{k}={v}" for k, v in context.items())
    return f"{text} [{described}]" if described else text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {}
        for name in _EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                fields[name] = value
        exception = _exception_name(record)
        if exception is not None:
            fields["exception"] = exception
        return _json_line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            _context_fields(),
            fields,
        )


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _text_line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            _context_fields(),
            _exception_name(record),
        )


#: How long an info line may wait in a LogWriter before it is written.
FLUSH_SECONDS = 0.2
#: Lines a LogWriter holds at most: past that, the thread that logs writes them itself (a
#: stderr nobody reads then holds the logging thread up, as an unbuffered one would).
_MAX_PENDING = 2048
_writers: WeakSet[LogWriter] = WeakSet()


class LogWriter(logging.Handler):
    """The handler ``configure_logging`` installs: each line is formatted on the thread that
    logs and written in batches, by a thread of its own every ``FLUSH_SECONDS``, instead of one
    write system call per line (an access line per request). A record at warning or above is
    written at once, with the lines before it; so is every line at a clean stop (closing the
    handler, which ``logging.shutdown`` does at exit). A process killed outright loses the info
    lines of its last ``FLUSH_SECONDS`` at most."""

    def __init__(self, stream: TextIO, fmt: LogFormat) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
        self.stream = stream
        self._json = fmt == "json"
        self._start()
        _writers.add(self)

    def _start(self) -> None:
        self._pending: list[str] = []
        self._pending_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_often, name="authward-log", daemon=True)
        self._thread.start()

    def _flush_often(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._add(line, urgent=record.levelno >= logging.WARNING)

    def write_info(
        self, logger: str, message: str, context: dict[str, str], fields: dict[str, object]
    ) -> None:
        """The line an info record of ``logger`` with these ``extra`` fields would be, written
        without making the record (``sole_writer`` says when nothing else would see it)."""
        now = time.time()
        if self._json:
            self._add(_json_line(now, "INFO", logger, message, context, fields), urgent=False)
        else:
            self._add(_text_line(now, "INFO", logger, message, context), urgent=False)

    def _add(self, line: str, *, urgent: bool) -> None:
        with self._pending_lock:
            self._pending.append(line)
            full = len(self._pending) >= _MAX_PENDING
        if urgent or full:
            self.flush()

    def flush(self) -> None:
        with self._write_lock:  # batches reach the stream in the order they were taken
            with self._pending_lock:
                lines, self._pending = self._pending, []
            if not lines:
                return
            # A closed or broken stderr leaves nowhere to report the failure.
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.flush()
        _writers.discard(self)
        super().close()

    def after_fork(self) -> None:
        """A forked child starts with no lines (its parent writes those it holds) and needs a
        thread of its own."""
        self._start()


def _after_fork_in_child() -> None:
    for writer in list(_writers):
        writer.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def sole_writer(logger: logging.Logger) -> LogWriter | None:
    """The LogWriter that ``logger``'s info records reach when nothing else sees them: no filter
    on the logger, no other handler on the way to the root. That is ``configure_logging``'s set-up
    until an app or a test adds a handler of its own, which then gets the records."""
    if logger.filters:
        return None
    found: LogWriter | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if (
                found is not None
                or not isinstance(handler, LogWriter)
                or handler.filters
                or handler.level > logging.INFO
            ):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


def configure_logging(fmt: LogFormat, level: str) -> None:
    """One handler on the root logger, writing to stderr; uvicorn's loggers go through it too."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, LogWriter):
            old.close()
    root.addHandler(LogWriter(sys.stderr, fmt))
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Alembic says "Context impl SQLiteImpl." at info on every run; the migrations applied are
    # printed by the commands themselves.
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
