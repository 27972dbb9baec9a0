"""ASGI apps an app module adds to `authward serve` at paths of their own (decision 050).

    def mounts(aw: Authward) -> Mapping[str, ASGIApp]:
        return {"/mcp": protect(mcp, aw, resource="mcp")}

Each app gets the requests for its path and everything below it, with the path unchanged (not
stripped as Starlette's ``Mount`` does), after authward's own routes and before the module's
``asgi(aw)`` at ``/``. `serve` runs each app's ASGI lifespan: started before the first request,
shut down after the last one, while the runtime is still open.
"""

from __future__ import annotations

__all__ = ["MountsFactory", "PathPrefix", "checked_mounts", "lifespans"]

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authward.errors import ConfigError, ConfigIssue

log = logging.getLogger("authward.server")

#: ``mounts(aw)``: called with the open runtime.
MountsFactory = Callable[[Any], Mapping[str, ASGIApp]]

_PATH = re.compile(r"(/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)+\Z")
#: authward's own paths: an app mounted at or under one would never see its requests, or take
#: some of authward's.
_OWN = (
    *("/oauth2", "/.well-known", "/v1", "/healthz", "/readyz", "/metrics", "/login", "/consent"),
    *("/dashboard", "/connections", "/webhooks"),
)


class PathPrefix(BaseRoute):
    """``path`` and everything under it, handed to ``app`` with the path as it came."""

    def __init__(self, path: str, app: ASGIApp) -> None:
        self.path = path
        self.app = app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if path == self.path or path.startswith(self.path + "/"):
                return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        from starlette.routing import NoMatchFound

        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def checked_mounts(source: str, mounts: object) -> dict[str, ASGIApp]:
    """What ``mounts(aw)`` returned, checked: ``{"/path": asgi_app}``, paths without a trailing
    slash, none of authward's own, none under another. ``ConfigError`` names each mistake."""
    where = f"{source}: mounts(aw)"
    if not isinstance(mounts, Mapping):
        raise ConfigError([ConfigIssue(where, "must return a mapping {'/path': asgi_app}")])
    issues: list[ConfigIssue] = []
    for path, app in mounts.items():
        at = f"{where}[{path!r}]"
        if not isinstance(path, str) or not _PATH.match(path):
            issues.append(ConfigIssue(at, "expected a path such as '/mcp' (no trailing slash)"))
        elif any(path == own or path.startswith(own + "/") for own in _OWN):
            issues.append(ConfigIssue(at, "is one of authward's own paths"))
        elif any(p != path and path.startswith(p + "/") for p in mounts if isinstance(p, str)):
            issues.append(ConfigIssue(at, "is under another mounted path"))
        elif not callable(app):
            issues.append(ConfigIssue(at, "expected an ASGI app"))
    if issues:
        raise ConfigError(issues)
    return dict(mounts)


class _Lifespan:
    """One app's side of the ASGI lifespan protocol, driven as a server drives it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Future[None] | None = None

    async def _receive(self) -> Message:
        return await self._to_app.get()

    async def _send(self, message: Message) -> None:
        await self._from_app.put(message)

    async def _answer(self) -> Message | None:
        """The app's next message, or ``None`` when it returned without one."""
        assert self._task is not None
        getting = asyncio.ensure_future(self._from_app.get())
        waiting: set[asyncio.Future[Any]] = {getting, self._task}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if getting.done():
            return getting.result()
        getting.cancel()
        if not self._from_app.empty():  # sent just before it returned
            return self._from_app.get_nowait()
        self._task.result()  # the app's exception, if it raised one
        return None

    async def start(self, path: str) -> bool:
        """Run the startup; ``False`` when the app has no lifespan (it refused the scope)."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        self._task = asyncio.ensure_future(self._app(scope, self._receive, self._send))
        await self._to_app.put({"type": "lifespan.startup"})
        try:
            message = await self._answer()
        except Exception:
            # ASGI: an app that raises on the lifespan scope does not support it.
            log.debug("the app mounted at %s has no lifespan", path)
            return False
        if message is None:
            return False
        if message["type"] == "lifespan.startup.failed":
            # Starlette sends the whole traceback: its last line says what went wrong.
            lines = [line for line in str(message.get("message", "")).splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else "no reason given"
            with contextlib.suppress(Exception):
                await self._task
            raise ConfigError([ConfigIssue(f"mounts(aw)[{path!r}]", f"did not start: {reason}")])
        return True

    async def stop(self, path: str) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        try:
            message = await self._answer()
        except Exception:
            log.exception("the app mounted at %s failed while shutting down", path)
            return
        if message is not None and message["type"] == "lifespan.shutdown.failed":
            log.error("the app mounted at %s failed to shut down", path)
        assert self._task is not None
        with contextlib.suppress(Exception):
            await self._task


@contextlib.asynccontextmanager
async def lifespans(mounts: Sequence[tuple[str, ASGIApp]]) -> AsyncIterator[None]:
    """Start every mounted app's lifespan in order; shut the started ones down in reverse."""
    started: list[tuple[str, _Lifespan]] = []
    try:
        for path, app in mounts:
            lifespan = _Lifespan(app)
            if await lifespan.start(path):
                started.append((path, lifespan))
        yield
    finally:
        for path, lifespan in reversed(started):
            await lifespan.stop(path)
