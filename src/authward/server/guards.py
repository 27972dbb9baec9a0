"""HTTP-level guards in front of every route ``build_app`` mounts (so also of `authward serve`).

- A request whose header lines add up to more than ``AUTHWARD_MAX_HEADER_BYTES`` is answered
  ``431 Request Header Fields Too Large`` before any route runs. uvicorn's C parser (httptools)
  sets no limit of its own, and its h11 limit would answer a bare 400.
- A path with a control character (decoded: ``%0A``, ``%00``...) or a query with a NUL is
  answered 400: no route of authward's takes one, Starlette's mounts would not route such a path
  (their ``.*`` stops at a newline: a plain-text 404 of the outermost app), and PostgreSQL cannot
  hold a NUL in text (a query value that reached it was a 500).
- A client that goes away before it has sent the whole body makes the route reading it raise
  Starlette's ``ClientDisconnect``; nobody is left to answer, so the request ends quietly (a debug
  line) instead of reaching uvicorn as "Exception in ASGI application" with a traceback.
"""

from __future__ import annotations

__all__ = ["RequestGuard"]

import logging
import re

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("authward.server")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: ": " between a header's name and value, and the CRLF that ends its line.
_LINE_OVERHEAD = 4


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            log.debug(
                "%s %s: the client left before sending its body", scope["method"], scope["path"]
            )

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        size = sum(len(name) + len(value) + _LINE_OVERHEAD for name, value in scope["headers"])
        if size > self.max_header_bytes:
            return JSONResponse(
                {
                    "error": "invalid_request",
                    "message": f"the request's headers exceed {self.max_header_bytes} bytes",
                },
                status_code=431,
                headers={"Connection": "close"},
            )
        query = scope["query_string"]
        if _CONTROL.search(scope["path"]) or b"%00" in query or b"\x00" in query:
            return JSONResponse(
                {"error": "invalid_request", "message": "the URL has a control character"},
                status_code=400,
            )
        return None
