"""The app `bench/http_protected.py` serves: one endpoint open, the same endpoint protected."""

from __future__ import annotations

import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from app import config  # noqa: F401  (the example's auth)

from authward.channel import AuthMiddleware, authward_tokens
from authward.runtime import Authward


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def asgi(aw: Authward) -> ASGIApp:
    app = Starlette(routes=[Route("/open", hello), Route("/protected", hello)])
    return AuthMiddleware(app, auth=[authward_tokens(tokens=aw.verifier)], public_paths=["/open"])
