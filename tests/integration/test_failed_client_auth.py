"""Failed client authentications at the token, introspection and revocation endpoints are
limited per client and per address, in the store (issue 13, item 12; decision 037), on SQLite
and PostgreSQL. Only failures count: good traffic is never limited and writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward.channel import AuthMiddleware, authward_tokens
from authward.config import Config
from authward.identity.api_keys import generate_api_key
from authward.runtime import Authward
from authward.server.app import build_app
from authward.store.schema import login_throttle
from tests.conftest import SettingsFactory
from tests.integration.oauth_support import credentials, oauth_config

WINDOW = 1.5
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    settings = settings_for(
        database_url,
        auth_failure_client_limit=3,
        auth_failure_address_limit=5,
        auth_failure_window_seconds=WINDOW,
    )
    runtime = await Authward.open(oauth_config(example_config), settings, migrate=True)
    yield runtime
    await runtime.close()


def at(aw: Authward, address: str = "203.0.113.5") -> httpx.AsyncClient:
    """A client of ``aw`` whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=build_app(aw), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=aw.issuer)


async def test_a_client_that_fails_too_often_is_refused_even_with_its_secret(
    aw: Authward,
) -> None:
    client_id, secret = await credentials(aw, "admin-machine-user")
    other_id, other_secret = await credentials(aw, "readonly-machine-user")
    async with at(aw) as c:
        for _ in range(3):
            wrong = await c.post("/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, "x"))
            assert wrong.status_code == 401
            assert wrong.json()["error"] == "invalid_client"
        limited = await c.post("/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, secret))
        # Another client from the same address is not held back.
        other = await c.post(
            "/oauth2/token", data=CLIENT_CREDENTIALS, auth=(other_id, other_secret)
        )
    async with at(aw, "198.51.100.20") as elsewhere:
        moved = await elsewhere.post(
            "/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, secret)
        )
    assert limited.status_code == 429
    assert limited.json()["error"] == "temporarily_unavailable"
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    assert limited.headers["cache-control"] == "no-store"
    assert secret not in limited.text
    assert other.status_code == 200, other.text
    # The limit is the client's, wherever it calls from.
    assert moved.status_code == 429
    await asyncio.sleep(WINDOW + 0.1)
    async with at(aw) as c:
        again = await c.post("/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, secret))
    assert again.status_code == 200, again.text


async def test_an_address_that_fails_too_often_is_refused(aw: Authward) -> None:
    client_id, secret = await credentials(aw, "readonly-machine-user")
    async with at(aw) as c:
        # Guessing across client ids (and endpoints) from one address.
        for n in range(5):
            endpoint = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke")[n % 3]
            form = {**CLIENT_CREDENTIALS, "token": "t"}
            wrong = await c.post(endpoint, data=form, auth=(f"client-{n}", "guess"))
            assert wrong.status_code == 401, wrong.text
        for endpoint in ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"):
            limited = await c.post(
                endpoint, data={**CLIENT_CREDENTIALS, "token": "t"}, auth=(client_id, secret)
            )
            assert limited.status_code == 429, endpoint
            assert limited.json()["error"] == "temporarily_unavailable"
            assert "retry-after" in limited.headers
    async with at(aw, "198.51.100.21") as elsewhere:
        fine = await elsewhere.post(
            "/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, secret)
        )
    assert fine.status_code == 200, fine.text


async def test_good_traffic_is_never_limited_and_writes_no_count(aw: Authward) -> None:
    client_id, secret = await credentials(aw, "admin-machine-user")
    async with at(aw) as c:
        statuses = [
            (
                await c.post("/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, secret))
            ).status_code
            for _ in range(500)
        ]
    assert set(statuses) == {200}
    async with aw.engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(login_throttle))).scalar()
    assert rows == 0


async def test_the_limit_is_shared_by_two_runtimes(
    postgres_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    settings = settings_for(
        postgres_url,
        auth_failure_client_limit=4,
        auth_failure_window_seconds=30,
        cache_refresh_seconds=0.2,
    )
    config = oauth_config(example_config)
    first = await Authward.open(config, settings, migrate=True)
    second = await Authward.open(config, settings, migrate=False)
    try:
        client_id, secret = await credentials(first, "admin-machine-user")
        for runtime in (first, first, second, second):
            async with at(runtime) as c:
                wrong = await c.post(
                    "/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, "guess")
                )
            assert wrong.status_code == 401
        # The fourth failure, at the second runtime, locked the client at both (the first
        # reads the store's locks again once its view is older than cache_refresh_seconds).
        await asyncio.sleep(0.3)
        for runtime in (first, second):
            async with at(runtime, "198.51.100.22") as c:
                refused = await c.post(
                    "/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, secret)
                )
            assert refused.status_code == 429
    finally:
        await second.close()
        await first.close()


def protected(aw: Authward, address: str) -> httpx.AsyncClient:
    """An app of the user's that accepts authward API keys, called from ``address``."""

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"principal_id": request.state.auth.principal_id})

    app = AuthMiddleware(
        Starlette(routes=[Route("/whoami", whoami)]),
        auth=[authward_tokens(tokens=aw.verifier, api_keys=aw.api_keys, accepts_token=["api_key"])],
    )
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_failed_api_key_checks_are_limited_per_address(aw: Authward) -> None:
    secret, _ = await aw.api_keys.create("deploys", user_id="user-1")
    guesses = [generate_api_key() for _ in range(5)]  # well formed, unknown
    async with protected(aw, "203.0.113.30") as c:
        for guess in guesses:
            wrong = await c.get("/whoami", headers={"Authorization": f"Bearer {guess}"})
            assert wrong.status_code == 401
        limited = await c.get("/whoami", headers={"Authorization": f"Bearer {secret}"})
    async with protected(aw, "203.0.113.31") as elsewhere:
        fine = await elsewhere.get("/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert limited.status_code == 429
    assert limited.json()["error"] == "too_many_requests"
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    assert secret not in limited.text
    assert fine.status_code == 200, fine.text
    # Good keys never count: many uses write no count.
    async with protected(aw, "203.0.113.32") as c:
        for _ in range(50):
            ok = await c.get("/whoami", headers={"Authorization": f"Bearer {secret}"})
            assert ok.status_code == 200
    async with aw.engine.connect() as conn:
        counted = (await conn.execute(select(login_throttle.c.scope))).scalars().all()
    assert counted == ["api_key_ip"]
