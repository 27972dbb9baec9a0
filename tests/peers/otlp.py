"""An OTLP/HTTP trace receiver: what a collector answers on ``/v1/traces``, keeping the spans a
process exported to it (``AUTHWARD_OTLP_ENDPOINT``), decoded by OpenTelemetry's own protobuf
classes.

    peer = OtlpPeer()
    async with serve_asgi(peer.app()) as endpoint:
        ...  # a process started with AUTHWARD_OTLP_ENDPOINT=endpoint exports here
    peer.spans  # opentelemetry.proto.trace.v1.trace_pb2.Span
"""

from __future__ import annotations

import gzip

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class OtlpPeer:
    def __init__(self) -> None:
        self.spans: list[Span] = []

    async def _traces(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        for resource in export.resource_spans:
            for scope in resource.scope_spans:
                self.spans.extend(scope.spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        return Response(answer, media_type="application/x-protobuf")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])
