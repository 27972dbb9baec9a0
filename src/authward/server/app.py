"""``build_app``: mount authward's endpoints on Starlette for one opened runtime."""

from __future__ import annotations

__all__ = ["build_app"]

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward.runtime import Authward

#: Short enough that a rotated key reaches caches well before tokens it signs are common.
_JWKS_MAX_AGE = 300


def build_app(aw: Authward) -> Starlette:
    async def jwks(_: Request) -> JSONResponse:
        return JSONResponse(
            await aw.jwks(),
            media_type="application/jwk-set+json",
            headers={"Cache-Control": f"public, max-age={_JWKS_MAX_AGE}"},
        )

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def index(_: Request) -> JSONResponse:
        return JSONResponse(
            {
                "name": "authward",
                "auth": aw.config.auth.name,
                "issuer": aw.issuer,
                "jwks_uri": f"{aw.issuer}/.well-known/jwks.json",
            }
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", health),
            Route("/.well-known/jwks.json", jwks),
        ]
    )
