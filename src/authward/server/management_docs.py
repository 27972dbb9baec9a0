"""Swagger UI for the management API at ``/v1/docs`` (decision 052).

Served from this server, never a CDN: the page, Swagger UI's script and stylesheet from the
``swagger-ui-bundle-v2`` package (Swagger UI 5: version 4 cannot read OpenAPI 3.1), and a small
start-up script of our own, so the page runs under a strict Content-Security-Policy
(``script-src 'self'``, no inline script or style). The page is public like the OpenAPI document
it shows: it holds no data, and every call made from it needs the admin token that its
"Authorize" button takes.
"""

from __future__ import annotations

__all__ = ["DOCS_PATHS", "docs_routes"]

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route
from swagger_ui_bundle import swagger_ui_path

#: What the page may load: only this origin; Swagger UI draws its icons as data: images.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# Relative URLs: the API is mounted under /v1, and the page is /v1/docs.
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>authward management API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/start.js"></script>
</body>
</html>
"""

# The document is openapi.json beside the page; the validator badge would call a third party.
_START = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    persistAuthorization: false,
  });
});
"""

#: The bundle's files the page loads, by their name under /docs/.
_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
}

DOCS_PATHS = ("/docs", "/docs/start.js", *(f"/docs/{name}" for name in _ASSETS))


async def _page(_: Request) -> Response:
    return HTMLResponse(_PAGE, headers={**_HEADERS, "Cache-Control": "no-cache"})


async def _start(_: Request) -> Response:
    return Response(_START, media_type="text/javascript; charset=utf-8", headers=_HEADERS)


def _asset(name: str) -> Route:
    path = Path(str(swagger_ui_path)) / name

    async def serve(_: Request) -> Response:
        return FileResponse(
            path,
            media_type=_ASSETS[name],
            headers={**_HEADERS, "Cache-Control": "public, max-age=86400"},
        )

    return Route(f"/docs/{name}", serve, methods=["GET"])


def docs_routes() -> list[Route]:
    return [
        Route("/docs", _page, methods=["GET"]),
        Route("/docs/start.js", _start, methods=["GET"]),
        *(_asset(name) for name in _ASSETS),
    ]
