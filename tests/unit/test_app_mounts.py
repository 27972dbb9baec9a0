"""An app module's ``mounts(aw)`` (decision 050): the paths it may take, the lifespans serve
runs for them, and requests reaching each app with the path unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from authward.errors import ConfigError
from authward.server.mounts import PathPrefix, checked_mounts, lifespans


async def _plain(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse(scope["path"])(scope, receive, send)


def test_mounts_take_paths_of_their_own() -> None:
    assert checked_mounts("app.py", {"/mcp": _plain, "/tools/a": _plain}) == {
        "/mcp": _plain,
        "/tools/a": _plain,
    }
    with pytest.raises(ConfigError) as refused:
        checked_mounts(
            "app.py",
            {
                "mcp": _plain,
                "/mcp/": _plain,
                "/oauth2/extra": _plain,
                "/.well-known/x": _plain,
                "/a": _plain,
                "/a/b": _plain,
                "/c": "not an app",
            },
        )
    text = str(refused.value)
    for named in ("['mcp']", "['/mcp/']", "['/oauth2/extra']", "['/.well-known/x']", "['/a/b']"):
        assert f"app.py: mounts(aw){named}" in text
    assert "['/c']: expected an ASGI app" in text
    with pytest.raises(ConfigError, match="must return a mapping"):
        checked_mounts("app.py", [("/mcp", _plain)])


async def test_lifespans_start_before_and_stop_after_and_the_path_is_kept() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        events.append("started")
        yield
        events.append("stopped")

    async def where(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{request.url.path} after {events}")

    app = Starlette(routes=[Route("/mcp", where), Route("/mcp/x", where)], lifespan=lifespan)
    outer = Starlette(routes=[PathPrefix("/mcp", app)])
    async with lifespans([("/mcp", app), ("/plain", _plain)]):
        transport = httpx.ASGITransport(app=outer)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/mcp")).text == "/mcp after ['started']"
            assert (await client.get("/mcp/x")).text == "/mcp/x after ['started']"
            assert (await client.get("/mcpx")).status_code == 404
    assert events == ["started", "stopped"]


async def test_a_mount_that_fails_to_start_stops_serve_naming_it() -> None:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database for the tools")
        yield

    with pytest.raises(ConfigError, match=r"mounts\(aw\)\['/mcp'\].*no database for the tools"):
        async with lifespans([("/mcp", Starlette(lifespan=lifespan))]):
            pass
