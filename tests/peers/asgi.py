"""Serving a small ASGI app on a free loopback port for the length of a test.

The third-party APIs the integrations call (Slack, GitHub, an OAuth provider) are played by small
Starlette apps that speak their wire format; the real SDKs are pointed at them.

    async with serve_asgi(app) as base_url:   # "http://127.0.0.1:PORT"
        ...

``port=`` serves on a port chosen beforehand (``free_port()``), for an app that must know its own
URL before it starts (authward's issuer, which webhook URLs are made of).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from tests.peers import free_port


@asynccontextmanager
async def serve_asgi(app: Any, *, port: int | None = None) -> AsyncIterator[str]:
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", loop="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        task.cancel()
        raise RuntimeError(f"the test server on port {port} did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait({task}, timeout=5)
        if not task.done():
            task.cancel()
