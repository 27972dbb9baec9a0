"""Protected resource metadata routes (RFC 9728) for declared resource servers.

``authward serve`` (and ``AuthwardApp.install``) serve the metadata of every declared resource on
the issuer's own origin by themselves. An ASGI app of yours that is a resource server on another
origin adds the routes of its resource:

    app = Starlette(routes=[*resource_metadata_routes([aw.resource("reports")], issuer=aw.issuer),
                            ...])
"""

from __future__ import annotations

__all__ = ["resource_metadata_routes", "same_origin"]

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from authward.oauth.resource_metadata import (
    WELL_KNOWN,
    metadata_path,
    protected_resource_metadata,
)
from authward.oauth.resources import Resource

#: As the authorization server's metadata: declarations change with a deploy.
_MAX_AGE = 300


def same_origin(resources: Iterable[Resource], url: str) -> list[Resource]:
    """The resources whose identifiers are on ``url``'s scheme and host."""
    origin = urlsplit(url)[:2]
    return [r for r in resources if urlsplit(r.url)[:2] == origin]


def resource_metadata_routes(resources: Iterable[Resource], *, issuer: str) -> list[BaseRoute]:
    """``GET`` routes of each resource's metadata at its RFC 9728 §3.1 path
    (``/.well-known/oauth-protected-resource/mcp`` for ``https://host/mcp``). Unless a resource
    sits at the origin's root, the bare ``/.well-known/oauth-protected-resource`` answers with
    the first one's: clients that look only there (the MCP authorization spec's fallback) find
    it, and its ``resource`` says which resource it describes."""
    routes: list[BaseRoute] = []
    paths: set[str] = set()
    first: Resource | None = None
    for resource in resources:
        path = metadata_path(resource.url)
        if path in paths:
            continue
        paths.add(path)
        first = first or resource
        routes.append(Route(path, _endpoint(resource, issuer), methods=["GET"]))
    if first is not None and WELL_KNOWN not in paths:
        routes.append(Route(WELL_KNOWN, _endpoint(first, issuer), methods=["GET"]))
    return routes


def _endpoint(resource: Resource, issuer: str) -> Callable[[Request], Awaitable[Response]]:
    # Encoded once: the document changes only with the declaration.
    body = JSONResponse(protected_resource_metadata(resource, issuer)).body

    async def protected_resource(_: Request) -> Response:
        return Response(
            body,
            media_type="application/json",
            headers={"Cache-Control": f"public, max-age={_MAX_AGE}"},
        )

    return protected_resource
