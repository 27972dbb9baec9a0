"""Tracing on: the OpenTelemetry SDK, the OTLP/HTTP exporter and the instrumentations (the
``otel`` extra). Off by default; ``authward serve`` and ``authward worker`` turn it on when
``AUTHWARD_OTLP_ENDPOINT`` is set, and a test may pass an exporter of its own.

What is instrumented: every request (the ASGI middleware, outermost, so the access log and
every record of the request carry its trace id), every statement of the store's engine
(SQLAlchemy; statements only, never their parameters), every outgoing httpx call (upstream
identity providers, connected-account refreshes, GitHub) and aiohttp call (Slack's SDK). Job
runs and their tasks add their own spans (``observability/tracing.py``)."""

from __future__ import annotations

__all__ = ["Tracing", "start_tracing"]

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace

from authward.errors import MissingExtra

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter


class AsyncEngine(Protocol):
    """SQLAlchemy's async engine, as far as instrumenting it goes (no SQLAlchemy import
    outside store/)."""

    @property
    def sync_engine(self) -> Any: ...


@dataclass
class Tracing:
    provider: TracerProvider
    _engines: list[Any]

    def asgi(self, app: Any) -> Any:
        """``app`` wrapped in a span per request (the ASGI instrumentation)."""
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return OpenTelemetryMiddleware(
            app,
            tracer_provider=self.provider,
            server_request_hook=lambda span, _scope: _without_query(span),
        )

    def instrument_engine(self, engine: AsyncEngine) -> None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        instrumentor = SQLAlchemyInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        instrumentor.instrument(
            engine=engine.sync_engine,
            tracer_provider=self.provider,
            enable_commenter=False,
            # Its version range stops at SQLAlchemy 2.0; the 2.1 event API it uses is unchanged.
            skip_dep_check=True,
        )
        self._engines.append(engine)

    def stop(self) -> None:
        """Flush what is buffered and undo the instrumentations; apps built after this are not
        traced. (OpenTelemetry's provider stays: a process sets it once.)"""
        global _active
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        for instrumentor in (
            SQLAlchemyInstrumentor(),
            HTTPXClientInstrumentor(),
            AioHttpClientInstrumentor(),
        ):
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
        self.provider.force_flush()
        _active = None


_active: Tracing | None = None

#: Span attributes the instrumentations fill with a URL or its query: an authorization code, a
#: state or a token may travel in a query string, so none is kept.
_URL_KEYS = ("http.url", "url.full", "http.target")
_QUERY_KEYS = ("url.query",)


def _without_query(span: Any, *_: object) -> None:
    if not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_KEYS:
        value = attributes.get(key)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(key, value.split("?", 1)[0])
    for key in _QUERY_KEYS:
        if key in attributes:
            span.set_attribute(key, "")


def _url_without_query(url: Any) -> str:
    return str(url).split("?", 1)[0]


async def _without_query_async(span: Any, *_: object) -> None:
    _without_query(span)


def active() -> Tracing | None:
    return _active


def start_tracing(
    *, endpoint: str | None, service_name: str, exporter: SpanExporter | None = None
) -> Tracing | None:
    """Turn tracing on in this process (once: OpenTelemetry's provider is global), exporting
    over OTLP/HTTP to ``endpoint``, or to ``exporter``. Neither: off, ``None``."""
    global _active
    if endpoint is None and exporter is None:
        return None
    try:
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        raise MissingExtra("otel", "AUTHWARD_OTLP_ENDPOINT (tracing)") from None
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(provider)
    _active = Tracing(provider, [])
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
        )
    httpx_client = HTTPXClientInstrumentor()
    if not httpx_client.is_instrumented_by_opentelemetry:
        httpx_client.instrument(
            tracer_provider=provider,
            request_hook=_without_query,
            async_request_hook=_without_query_async,
        )
    aiohttp_client = AioHttpClientInstrumentor()
    if not aiohttp_client.is_instrumented_by_opentelemetry:
        aiohttp_client.instrument(tracer_provider=provider, url_filter=_url_without_query)
    return _active
