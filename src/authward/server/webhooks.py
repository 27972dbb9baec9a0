"""``POST /webhooks/{registration_id}``: deliveries for dynamic triggers (docs/dynamic-triggers.md).

Answers: 202 with the started run ids; 200 for a delivery already seen (its first run ids) or an
event the trigger does not listen to (GitHub's ``ping`` included); 401 for a missing or wrong
signature; 404 for an unknown registration; 400 for malformed JSON or missing delivery headers;
413 above the body cap; 503 when the store cannot be reached. Never the body, the secret or a
stack trace, in the answer or the log.
"""

from __future__ import annotations

__all__ = ["MAX_BODY_BYTES", "webhook_routes"]

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from authward.jobs.dynamic_trigger import receive_webhook
from authward.jobs.runtime import JobsRuntime

log = logging.getLogger("authward.webhooks")

#: GitHub caps payloads at 25 MB, but the events a trigger starts runs for (issues, comments,
#: pull requests, pushes of at most 20 commits) are tens of kilobytes; 1 MiB leaves room.
MAX_BODY_BYTES = 1 << 20


async def _read_body(request: Request) -> bytes | None:
    """The body, or ``None`` when it is larger than :data:`MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_routes(jobs: JobsRuntime) -> list[BaseRoute]:
    async def deliver(request: Request) -> JSONResponse:
        registration_id = request.path_params["registration_id"]
        try:
            body = await _read_body(request)
        except ClientDisconnect:
            return JSONResponse({"error": "incomplete_body"}, status_code=400)
        if body is None:
            return JSONResponse({"error": "payload_too_large"}, status_code=413)
        try:
            answer = await receive_webhook(jobs, registration_id, request.headers, body)
        except Exception as exc:
            # The type only: a message could quote the payload.
            log.error("webhook delivery to %s failed: %s", registration_id, type(exc).__name__)
            return JSONResponse(
                {"error": "temporarily_unavailable"}, status_code=503, headers={"Retry-After": "5"}
            )
        if answer.status >= 400:
            log.info("webhook delivery to %s refused: %s", registration_id, answer.body["error"])
        return JSONResponse(answer.body, status_code=answer.status)

    return [Route("/webhooks/{registration_id}", deliver, methods=["POST"])]
