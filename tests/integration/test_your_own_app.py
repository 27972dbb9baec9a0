"""authward inside an app of one's own (docs/your-own-app.md): ``AuthwardApp`` opened in the
app's lifespan, its endpoints served beside the app's routes, routes protected by its FastAPI
dependency, and ``aw.authenticate_request`` / ``aw.tokens_entry`` built from the runtime."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations, which refer
# to each test's own AuthwardApp.

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Security
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward import current_principal
from authward.channel import AuthMiddleware, UnauthenticatedError
from authward.config import Config, define_auth, define_config
from authward.embed import AuthwardApp
from authward.errors import ConfigError, PruneRequired
from authward.principal import Principal
from tests.conftest import ROOT, SettingsFactory
from tests.integration.test_dpop_resource import access_token
from tests.unit.test_dpop import make_proof, new_key

BASE = "http://testserver"


def make_app(aw: AuthwardApp) -> FastAPI:
    app = FastAPI()
    aw.install(app)
    caller = Annotated[Principal, Security(aw.principal())]
    only_admins = aw.principal(accepts_token=["oauth_token"], attribute={"role": "ADMIN"})
    admin = Annotated[Principal, Security(only_admins)]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "mine"}

    @app.get("/me")
    async def me(principal: caller) -> dict[str, Any]:
        return {
            "id": principal.principal_id,
            "tokenType": principal.attributes["tokenType"],
            "current": current_principal() is principal,
        }

    # A router-level check that takes API keys too must not let one through to ``admin``.
    @app.delete("/reports/{name}", dependencies=[Security(aw.principal())])
    async def delete(name: str, principal: admin) -> dict[str, str]:
        return {"deleted": name}

    return app


@pytest.fixture
async def opened(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[tuple[AuthwardApp, httpx.AsyncClient]]:
    aw = AuthwardApp(
        example_config,
        settings=settings_for(database_url),
        accepts_token=["oauth_token", "api_key"],
        migrate=True,  # PostgreSQL too (`authward migrate` in production)
    )
    app = make_app(aw)
    async with aw, httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as client:
        yield aw, client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_protected_routes_take_the_runtimes_tokens(
    opened: tuple[AuthwardApp, httpx.AsyncClient],
) -> None:
    aw, client = opened
    admin = await aw.runtime.machine_user_token("admin-machine-user")
    reader = await aw.runtime.machine_user_token("readonly-machine-user")
    key, _ = await aw.runtime.api_keys.create("ci", user_id="user_1")

    me = await client.get("/me", headers=bearer(admin))
    assert me.status_code == 200, me.text
    stored = await aw.runtime.machine_users.get("admin-machine-user")
    assert stored is not None
    # The principal is also the context variable's value inside the handler.
    assert me.json() == {"id": str(stored.id), "tokenType": "oauth_token", "current": True}
    assert (await client.get("/me", headers=bearer(key))).json()["tokenType"] == "api_key"
    assert (await client.delete("/reports/q1", headers=bearer(admin))).status_code == 200

    refused = await client.delete("/reports/q1", headers=bearer(reader))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    # This route takes OAuth tokens only: an API key is not one.
    not_here = await client.delete("/reports/q1", headers=bearer(key))
    assert not_here.status_code == 401
    assert not_here.json() == {
        "error": "authentication_required",
        "message": "api_key is not accepted here",
    }


async def test_refusals_are_rfc_6750_answers(
    opened: tuple[AuthwardApp, httpx.AsyncClient],
) -> None:
    aw, client = opened
    none = await client.get("/me")
    assert none.status_code == 401
    assert none.json() == {
        "error": "authentication_required",
        "message": "the request carries no token",
    }
    # RFC 6750 §3.1: no error code when the request sent no credentials.
    assert none.headers["www-authenticate"] == 'Bearer realm="authward"'

    token = await aw.runtime.machine_user_token("admin-machine-user")
    assert (await client.get("/me", headers=bearer(token))).status_code == 200
    await aw.runtime.revoke_token(token)
    revoked = await client.get("/me", headers=bearer(token))
    assert revoked.status_code == 401
    assert revoked.json()["error"] == "invalid_token"
    assert revoked.headers["www-authenticate"].startswith(
        'Bearer realm="authward", error="invalid_token"'
    )
    head, payload, _ = token.split(".")
    forged = await client.get("/me", headers=bearer(f"{head}.{payload}.AAAA"))
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_token"


async def test_a_dpop_bound_token_needs_its_proof(
    opened: tuple[AuthwardApp, httpx.AsyncClient],
) -> None:
    aw, client = opened
    key = new_key()
    token = await access_token(aw.runtime, key.thumbprint())
    proof = make_proof(key, htu=f"{BASE}/me", access_token=token)
    accepted = await client.get("/me", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert accepted.status_code == 200, accepted.text
    replayed = await client.get("/me", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert replayed.status_code == 401
    assert replayed.headers["www-authenticate"].startswith('DPoP realm="authward"')
    as_bearer = await client.get("/me", headers=bearer(token))
    assert as_bearer.status_code == 401
    assert as_bearer.json()["message"] == "a DPoP-bound token needs DPoP"


async def test_authwards_endpoints_are_served_beside_the_apps_routes(
    opened: tuple[AuthwardApp, httpx.AsyncClient],
) -> None:
    aw, client = opened
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert jwks.json()["keys"]
    discovery = (await client.get("/.well-known/openid-configuration")).json()
    assert discovery["token_endpoint"] == aw.runtime.issuer + "/oauth2/token"
    stored = await aw.runtime.machine_users.get("admin-machine-user")
    secret = await aw.runtime.machine_users.client_secret("admin-machine-user")
    assert stored is not None
    assert secret is not None
    answer = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(stored.client_id, secret.get_secret_value()),
    )
    assert answer.status_code == 200, answer.text
    me = await client.get("/me", headers=bearer(answer.json()["access_token"]))
    assert me.status_code == 200
    assert (await client.get("/oauth2/token")).status_code == 405  # authward's, not a 404
    # `/` and `/healthz` are the app's: authward's own index and health check stay out.
    assert (await client.get("/healthz")).json() == {"status": "mine"}
    assert (await client.get("/")).status_code == 404
    assert (await client.get("/docs")).status_code == 200
    schemes = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert set(schemes) == {"oauthToken", "apiKey"}


async def test_nothing_is_served_before_authward_is_open(
    tmp_path: Path, settings_for: SettingsFactory, example_config: Config
) -> None:
    aw = AuthwardApp(example_config, settings=settings_for(f"sqlite+aiosqlite:///{tmp_path}/a.db"))
    app = make_app(aw)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as client:
        with pytest.raises(ConfigError, match="authward is not open"):
            await client.get("/.well-known/jwks.json")
        async with aw:
            assert (await client.get("/.well-known/jwks.json")).status_code == 200
            with pytest.raises(ConfigError, match="already open"):
                await aw.__aenter__()
        with pytest.raises(ConfigError, match="authward is not open"):
            await client.get("/me")


async def test_the_runtime_authenticates_requests_without_plumbing(
    opened: tuple[AuthwardApp, httpx.AsyncClient],
) -> None:
    aw, _ = opened
    runtime = aw.runtime
    token = await runtime.machine_user_token("admin-machine-user")

    def request(headers: dict[str, str]) -> Request:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})

    principal = await runtime.authenticate_request(request(bearer(token)))
    assert principal.attributes["role"] == "ADMIN"
    with pytest.raises(UnauthenticatedError) as refused:
        await runtime.authenticate_request(request({}))
    assert (refused.value.code, refused.value.message) == (
        "authentication_required",
        "the request carries no token",
    )
    key, _ = await runtime.api_keys.create("ci", user_id="user_1")
    with pytest.raises(UnauthenticatedError, match="api_key is not accepted here"):
        await runtime.authenticate_request(request(bearer(key)))
    by_key = await runtime.authenticate_request(request(bearer(key)), accepts_token=["api_key"])
    assert by_key.attributes["userId"] == "user_1"


async def test_a_chain_entry_built_before_opening_serves_once_open(
    tmp_path: Path, settings_for: SettingsFactory, example_config: Config
) -> None:
    aw = AuthwardApp(example_config, settings=settings_for(f"sqlite+aiosqlite:///{tmp_path}/a.db"))

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"role": request.state.auth.attributes["role"]})

    # Built at import time, as AuthMiddleware is, before any runtime exists.
    app = AuthMiddleware(Starlette(routes=[Route("/whoami", whoami)]), auth=[aw.tokens_entry()])
    async with aw, httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as client:
        token = await aw.runtime.machine_user_token("readonly-machine-user")
        answer = await client.get("/whoami", headers=bearer(token))
        assert answer.json() == {"role": "READER"}
        assert (await client.get("/whoami")).status_code == 401


async def test_an_app_file_brings_its_jobs(tmp_path: Path, settings_for: SettingsFactory) -> None:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path}/a.db", jobs_worker=False)
    aw = AuthwardApp(ROOT / "examples" / "jobs.py", settings=settings)
    async with aw as runtime:
        assert "post-created" in runtime.jobs.jobs


async def test_opening_never_deletes_what_another_config_declared(
    tmp_path: Path, settings_for: SettingsFactory, example_config: Config
) -> None:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path}/a.db")
    async with AuthwardApp(example_config, settings=settings) as runtime:
        before = await runtime.machine_users.get("admin-machine-user")
    other = define_config(auth=define_auth("other-auth"))
    with pytest.raises(PruneRequired):
        async with AuthwardApp(other, settings=settings):
            pass
    async with AuthwardApp(example_config, settings=settings) as runtime:
        after = await runtime.machine_users.get("admin-machine-user")
    assert before is not None
    assert after is not None
    assert after.client_id == before.client_id
