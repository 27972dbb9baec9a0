"""HTTP guards over the chain: a Starlette decorator and FastAPI dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Depends, FastAPI, Security
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward.channel import AuthMiddleware, authward_tokens, exception_handlers, protected
from authward.channel.fastapi import current_principal, require
from authward.principal import Principal
from authward.runtime import Authward


@pytest.fixture
async def tokens(sqlite_runtime: Authward) -> dict[str, str]:
    return {
        "admin": await sqlite_runtime.machine_user_token("admin-machine-user"),
        "reader": await sqlite_runtime.machine_user_token("readonly-machine-user"),
    }


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def starlette_client(sqlite_runtime: Authward) -> AsyncIterator[httpx.AsyncClient]:
    @protected(attribute={"role": "ADMIN"}, principal_type="machine")
    async def admin_only(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @protected()
    async def anyone(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/admin", admin_only), Route("/public", anyone)])
    wrapped = AuthMiddleware(
        app, auth=[authward_tokens(tokens=sqlite_runtime.verifier)], public_paths=["/public"]
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wrapped), base_url="http://t"
    ) as client:
        yield client


async def test_protected_starlette_endpoint(
    starlette_client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    assert (await starlette_client.get("/admin", headers=auth_headers(tokens["admin"]))).json() == {
        "ok": True
    }
    refused = await starlette_client.get("/admin", headers=auth_headers(tokens["reader"]))
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "GET /admin requires attribute role='ADMIN' (principal has: READER)"
    )
    # On a public path the chain did not run: the guard still refuses with 401.
    anonymous = await starlette_client.get("/public")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="authward"'


@pytest.fixture
async def fastapi_client(sqlite_runtime: Authward) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI(exception_handlers=exception_handlers())
    app.add_middleware(
        AuthMiddleware,  # type: ignore[arg-type]
        auth=[authward_tokens(tokens=sqlite_runtime.verifier)],
        public_paths=["/open"],
    )

    @app.get("/me")
    async def me(principal: Principal = Depends(current_principal)) -> dict[str, str]:  # noqa: B008
        return {"id": principal.principal_id, "role": str(principal.attributes["role"])}

    @app.delete("/reports/{name}")
    async def delete(
        name: str,
        principal: Principal = Security(require(attribute={"role": "ADMIN"})),  # noqa: B008
    ) -> dict[str, str]:
        return {"deleted": name}

    @app.get("/open")
    async def open_(principal: Principal = Depends(current_principal)) -> dict[str, str]:  # noqa: B008
        return {"id": principal.principal_id}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        yield client


async def test_fastapi_dependencies(
    fastapi_client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    me = await fastapi_client.get("/me", headers=auth_headers(tokens["reader"]))
    assert me.status_code == 200
    assert me.json()["role"] == "READER"
    ok = await fastapi_client.delete("/reports/q1", headers=auth_headers(tokens["admin"]))
    assert ok.json() == {"deleted": "q1"}
    refused = await fastapi_client.delete("/reports/q1", headers=auth_headers(tokens["reader"]))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert (await fastapi_client.get("/me")).status_code == 401
    open_ = await fastapi_client.get("/open")
    assert open_.status_code == 401
    assert open_.json()["error"] == "unauthenticated"
