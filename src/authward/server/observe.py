"""The outermost middleware of ``build_app``: a request id, the access log, HTTP metrics.

- The request id is the caller's ``X-Request-ID`` when it is a short token of safe characters,
  else a new one; it is sent back in ``X-Request-ID`` and carried by every log record of the
  request.
- The access log (logger ``authward.access``, one record per request) names the method, the
  route's template, the path without its query (codes and tokens travel in queries), the status
  and the latency. Headers and bodies never appear.
- HTTP metrics are labelled by route template, method and status only (bounded cardinality).
"""

from __future__ import annotations

__all__ = ["ObserveRequests", "route_template"]

import itertools
import logging
import re
import secrets
import time

from opentelemetry import propagate, trace
from opentelemetry.trace import Span
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authward.observability import metrics
from authward.observability.logs import CURRENT_REQUEST_ID, context_fields, sole_writer
from authward.server.mounts import PathPrefix

access = logging.getLogger("authward.access")

_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: What an unmatched request is counted as: its path would let anyone grow the label set.
UNMATCHED = "<unmatched>"


def route_template(scope: Scope) -> str:
    """The template of the innermost route that matched (``/v1/api-keys/{key_id}``), its mount
    prefixes included, or ``<unmatched>``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    # Mounts record the prefix they matched; authward's mounts have no parameters of their own.
    prefix = scope.get("root_path", "")[len(scope.get("app_root_path", "")) :]
    if isinstance(route, Mount | PathPrefix):
        return prefix or path or "/"
    return f"{prefix}{path}" or "/"


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value.decode("ascii") if _SAFE_ID.fullmatch(value) else None
    return None


_TRACE_HEADERS = (b"traceparent", b"tracestate")


def _hand_on_trace(scope: Scope, span: Span) -> None:
    """Apps below that start server spans of their own from the headers (FastAPI does) continue
    the request's trace: its headers name the request's span, not the caller's."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    kept = [(k, v) for k, v in scope["headers"] if k not in _TRACE_HEADERS]
    scope["headers"] = kept + [(k.encode(), v.encode()) for k, v in carrier.items()]


def _name_span(scope: Scope, span: Span) -> None:
    """The ASGI instrumentation's span is named by the path: name it by the route template
    (it ends with the response, so before the response starts)."""
    route = route_template(scope)
    span.update_name(f"{scope['method']} {route}")
    span.set_attribute("http.route", route)


#: Request ids made here: unique per process by the counter, across processes by the prefix
#: (a random draw per request would cost a system call on every request).
_ID_PREFIX = secrets.token_hex(8)
_ids = itertools.count(1)


def _log_access(
    scope: Scope, method: str, route: str, status: int, elapsed: float, rid: str, span: Span
) -> None:
    fields: dict[str, object] = {
        "method": method,
        "route": route,
        "path": scope["path"],
        "status": status,
        "duration_ms": round(elapsed * 1000, 2),
    }
    writer = sole_writer(access)
    if writer is None:  # a handler of the app's or a test's wants the record
        access.info("%s %s %d %.1fms", method, route, status, elapsed * 1000, extra=fields)
        return
    # The line the record would have become, without the record: the logging machinery cost
    # more than the request itself on the lightest endpoints (docs/benchmarks.md).
    message = f"{method} {route} {status} {elapsed * 1000:.1f}ms"
    context = context_fields(rid, span.get_span_context())
    writer.write_info(access.name, message, context, fields)


class ObserveRequests:
    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        span = trace.get_current_span()
        traced = span.is_recording()
        if traced:
            _hand_on_trace(scope, span)
        rid = _incoming_id(scope) or f"{_ID_PREFIX}{next(_ids):016x}"
        header = (b"x-request-id", rid.encode("ascii"))
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
                if traced:
                    _name_span(scope, span)
            await send(message)

        token = CURRENT_REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = route_template(scope)
            metrics.observe_request(route, method, status, elapsed)
            if self.access_log and access.isEnabledFor(logging.INFO):
                _log_access(scope, method, route, status, elapsed, rid, span)
            CURRENT_REQUEST_ID.reset(token)
