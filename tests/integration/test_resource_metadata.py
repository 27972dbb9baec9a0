"""Protected resource metadata (RFC 9728) and the challenges of an app bound to a declared
resource: every 401 points to the metadata, a missing scope is a 403 naming it (step-up)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from authward.channel import AuthMiddleware, exception_handlers, principal_of, protected
from authward.errors import ConfigError
from authward.oauth.dpop import ALGORITHMS as DPOP_ALGORITHMS
from authward.runtime import Authward
from authward.server.resource_metadata import resource_metadata_routes
from tests.conftest import SettingsFactory
from tests.integration.oauth_support import credentials, http
from tests.integration.resource_support import REPORTS, mcp_url, resource_config, signed_token


@pytest.fixture
async def aw(tmp_path: Path, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    runtime = await Authward.open(resource_config(), settings_for(url), migrate=True)
    yield runtime
    await runtime.close()


def metadata_of(aw: Authward) -> str:
    return aw.issuer + "/.well-known/oauth-protected-resource/mcp"


async def test_the_server_serves_its_origins_resource_metadata(aw: Authward) -> None:
    async with http(aw) as client:
        suffixed = await client.get("/.well-known/oauth-protected-resource/mcp")
        root = await client.get("/.well-known/oauth-protected-resource")
        other_origin = await client.get("/.well-known/oauth-protected-resource/api")
    assert suffixed.status_code == 200
    assert suffixed.headers["content-type"] == "application/json"
    assert suffixed.json() == {
        "resource": mcp_url(aw),
        "authorization_servers": [aw.issuer],
        "scopes_supported": ["tools:read", "tools:admin"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Tools",
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "dpop_bound_access_tokens_required": False,
    }
    # Clients that look only at the origin's root find it there too.
    assert root.json() == suffixed.json()
    assert other_origin.status_code == 404  # reports.example.com serves its own


async def test_routes_for_a_resource_on_another_origin(aw: Authward) -> None:
    app = Starlette(routes=resource_metadata_routes([aw.resource("reports")], issuer=aw.issuer))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://reports.example.com"
    ) as client:
        document = (await client.get("/.well-known/oauth-protected-resource/api")).json()
    assert document["resource"] == REPORTS
    assert document["authorization_servers"] == [aw.issuer]
    assert document["dpop_bound_access_tokens_required"] is True
    assert document["scopes_supported"] == ["reports:read"]
    with pytest.raises(ConfigError, match="no resource server 'nope'"):
        aw.resource("nope")


def _app(aw: Authward) -> Starlette:
    @protected(scope="tools:admin")
    async def admin(request: Request) -> Response:
        principal = principal_of(request)
        assert principal is not None
        return JSONResponse({"sub": principal.subject})

    async def whoami(request: Request) -> Response:
        principal = await aw.authenticate_request(request, resource="mcp")
        return JSONResponse({"sub": principal.subject})

    guarded = Starlette(routes=[Route("/mcp/admin", admin)])
    return Starlette(
        routes=[
            Route("/whoami", whoami),
            Route(
                "/mcp/admin",
                AuthMiddleware(guarded, auth=[aw.tokens_entry(resource="mcp")]),
            ),
        ],
        exception_handlers=exception_handlers(),
    )


async def test_refusals_point_to_the_metadata(aw: Authward) -> None:
    metadata = f'resource_metadata="{metadata_of(aw)}"'
    mu_id, mu_secret = await credentials(aw, "robot")
    async with http(aw) as issuer:
        default_token = (
            await issuer.post(
                "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(mu_id, mu_secret)
            )
        ).json()["access_token"]
    past = int(time.time()) - 3600
    tokens = {
        "read": await signed_token(aw, scope="tools:read"),
        "admin": await signed_token(aw, scope="tools:read tools:admin"),
        "other": await signed_token(aw, audience=REPORTS, scope="tools:admin"),
        "expired": await signed_token(aw, issued_at=past - 60, expires_at=past),
    }
    transport = httpx.ASGITransport(app=_app(aw))
    async with httpx.AsyncClient(transport=transport, base_url=aw.issuer) as client:

        async def get(path: str, token: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return await client.get(path, headers=headers)

        for path in ("/mcp/admin", "/whoami"):
            bare = await get(path, None)
            assert bare.status_code == 401
            challenge = bare.headers["www-authenticate"]
            assert challenge.startswith("Bearer ")
            assert metadata in challenge
            for name in ("other", "expired"):
                refused = await get(path, tokens[name])
                assert refused.status_code == 401, (path, name)
                challenge = refused.headers["www-authenticate"]
                assert 'error="invalid_token"' in challenge
                assert metadata in challenge
            # A token for the server itself is not one for the resource (decision 047).
            assert (await get(path, default_token)).status_code == 401

        step_up = await get("/mcp/admin", tokens["read"])
        assert step_up.status_code == 403
        challenge = step_up.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="tools:admin"' in challenge
        assert metadata in challenge

        assert (await get("/mcp/admin", tokens["admin"])).status_code == 200
        assert (await get("/whoami", tokens["read"])).status_code == 200
