"""The request auth chain over a real Starlette app: accept, fall through, refuse, fail."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward import current_principal
from authward.channel import (
    AuthFn,
    AuthMiddleware,
    UnauthenticatedError,
    authward_tokens,
    local_dev,
)
from authward.errors import ConfigError
from authward.principal import Principal
from authward.runtime import Authward
from tests.integration.test_tokens import parts, resign

FOREIGN = Principal(
    authenticator="other-idp", principal_type="user", principal_id="u1", subject="u1"
)


async def whoami(request: Request) -> JSONResponse:
    principal = request.state.auth
    assert current_principal() is principal
    # The principal reaches tasks the handler starts.
    seen_in_task = await asyncio.create_task(asyncio.sleep(0, current_principal()))
    return JSONResponse(
        {
            "authenticator": principal.authenticator,
            "principal_id": principal.principal_id,
            "attributes": {
                k: list(v) if isinstance(v, tuple) else v for k, v in principal.attributes.items()
            },
            "same_in_task": seen_in_task is principal,
        }
    )


def make_app(entries: list[AuthFn], **kwargs: Any) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/whoami", whoami), Route("/healthz", whoami)])
    wrapped = AuthMiddleware(app, auth=entries, **kwargs)
    client_addr = kwargs.pop("client", None)
    transport = httpx.ASGITransport(app=wrapped, client=client_addr or ("127.0.0.1", 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(sqlite_runtime: Authward) -> AsyncIterator[httpx.AsyncClient]:
    async def foreign_idp(request: HTTPConnection) -> Principal | None:
        return FOREIGN if request.headers.get("authorization") == "Bearer foreign-token" else None

    entries = [authward_tokens(tokens=sqlite_runtime.verifier), foreign_idp]
    async with make_app(entries) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_machine_user_token_is_accepted_with_its_attributes(
    client: httpx.AsyncClient, sqlite_runtime: Authward
) -> None:
    token = await sqlite_runtime.machine_user_token("admin-machine-user")
    response = await client.get("/whoami", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    stored = await sqlite_runtime.machine_users.get("admin-machine-user")
    assert stored is not None
    assert body["authenticator"] == "authward"
    assert body["principal_id"] == str(stored.id)
    assert body["attributes"] == {
        "role": "ADMIN",
        "tokenType": "oauth_token",
        "scopes": [],
        "clientId": stored.client_id,
    }
    assert body["same_in_task"] is True
    assert current_principal() is None


async def test_no_credentials_is_a_bare_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/whoami")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="authward"'
    assert response.json() == {
        "error": "authentication_required",
        "message": "no authenticator accepted this request",
    }


async def test_a_foreign_token_falls_through_to_the_next_entry(client: httpx.AsyncClient) -> None:
    response = await client.get("/whoami", headers=bearer("foreign-token"))
    assert response.status_code == 200
    assert response.json()["authenticator"] == "other-idp"


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"exp": int(time.time()) - 120}, "token has expired"),
        ({"aud": "https://elsewhere.example"}, "token is not meant for this audience"),
        (
            {"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}},
            "a DPoP-bound token needs DPoP",
        ),
    ],
)
async def test_a_bad_token_of_ours_is_refused_at_once(
    client: httpx.AsyncClient, sqlite_runtime: Authward, change: dict[str, Any], description: str
) -> None:
    _, claims = parts(await sqlite_runtime.machine_user_token("admin-machine-user"))
    token = await resign(sqlite_runtime, {**claims, **change})
    response = await client.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "message": description}
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="authward", error="invalid_token", error_description="{description}"'
    )


async def test_tampered_and_unsigned_tokens_are_refused(
    client: httpx.AsyncClient, sqlite_runtime: Authward
) -> None:
    token = await sqlite_runtime.machine_user_token("readonly-machine-user")
    head, payload, _ = token.split(".")
    for forged in (f"{head}.{payload}.", f"{head}.{payload}.AAAA"):
        response = await client.get("/whoami", headers=bearer(forged))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            [("authorization", "Bearer a"), ("authorization", "Bearer b")],
            "more than one Authorization header",
        ),
        ([("authorization", "Bearer " + "a" * 9000)], "the Authorization header is too large"),
        ([("authorization", "Basic dXNlcjpwYXNz")], "unsupported authorization scheme 'Basic'"),
        ([("authorization", "Bearer")], "the Authorization header has no valid token"),
        ([("authorization", "Bearer a b")], "the Authorization header has no valid token"),
    ],
)
async def test_malformed_requests_are_400_invalid_request(
    client: httpx.AsyncClient, headers: list[tuple[str, str]], message: str
) -> None:
    response = await client.get("/whoami", headers=httpx.Headers(headers))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "message": message}
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


async def test_first_acceptance_wins_and_a_refusal_ends_the_chain() -> None:
    calls: list[str] = []

    def entry(name: str, outcome: Any) -> AuthFn:
        async def fn(request: HTTPConnection) -> Principal | None:
            calls.append(name)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome  # type: ignore[no-any-return]

        return fn

    async with make_app([entry("a", None), entry("b", FOREIGN), entry("c", FOREIGN)]) as c:
        assert (await c.get("/whoami")).status_code == 200
    assert calls == ["a", "b"]
    calls.clear()
    refusal = UnauthenticatedError(code="authentication_required", message="Clerk auth failed (x)")
    async with make_app([entry("a", refusal), entry("b", FOREIGN)]) as c:
        response = await c.get("/whoami")
    assert response.status_code == 401
    assert response.json() == {
        "error": "authentication_required",
        "message": "Clerk auth failed (x)",
    }
    assert calls == ["a"]


async def test_a_crashing_entry_is_a_500_that_leaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: HTTPConnection) -> Principal | None:
        raise RuntimeError("db password is hunter2")

    with caplog.at_level(logging.ERROR, logger="authward.channel"):
        async with make_app([broken]) as c:
            response = await c.get("/whoami")
    assert response.status_code == 500
    assert "hunter2" not in response.text
    assert json.loads(response.text)["error"] == "server_error"
    assert "broken" in caplog.text
    assert "hunter2" in caplog.text  # the traceback goes to the server log only


async def test_public_paths_skip_the_chain() -> None:
    async def refuse(request: HTTPConnection) -> Principal | None:
        raise UnauthenticatedError(message="no")

    app = Starlette(routes=[Route("/healthz", lambda r: JSONResponse({"ok": True}))])
    transport = httpx.ASGITransport(
        app=AuthMiddleware(app, auth=[refuse], public_paths=["/healthz"])
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        assert (await c.get("/healthz")).json() == {"ok": True}


@pytest.mark.parametrize(
    ("development", "peer", "extra", "status"),
    [
        (True, "127.0.0.1", {}, 200),
        (True, "::1", {}, 200),
        (False, "127.0.0.1", {}, 401),
        (True, "10.1.2.3", {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}, 401),
    ],
)
async def test_local_dev_needs_development_and_a_loopback_peer(
    development: bool, peer: str, extra: dict[str, str], status: int
) -> None:
    app = Starlette(routes=[Route("/whoami", whoami)])
    wrapped = AuthMiddleware(app, auth=[local_dev(development=development)])
    transport = httpx.ASGITransport(app=wrapped, client=(peer, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.get("/whoami", headers=extra)
    assert response.status_code == status
    if status == 200:
        assert response.json()["authenticator"] == "local-dev"


def test_impossible_token_settings_fail_at_start_up(sqlite_runtime: Authward) -> None:
    with pytest.raises(ConfigError, match="m2m_token needs machine_secret_key"):
        authward_tokens(tokens=sqlite_runtime.verifier, accepts_token=["m2m_token"])
    with pytest.raises(ConfigError, match="unknown token type"):
        authward_tokens(tokens=sqlite_runtime.verifier, accepts_token=["jwt"])  # type: ignore[list-item]


async def test_a_token_type_not_accepted_falls_through(sqlite_runtime: Authward) -> None:
    token = await sqlite_runtime.machine_user_token("admin-machine-user")
    only_keys = authward_tokens(
        tokens=sqlite_runtime.verifier, api_keys=None, accepts_token=["api_key"]
    )
    async with make_app([only_keys]) as c:
        response = await c.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_required"


async def test_a_requires_refusal_in_a_handler_is_403_insufficient_scope(
    sqlite_runtime: Authward,
) -> None:
    from authward.agents import requires
    from authward.channel import exception_handlers

    @requires(attribute={"role": "ADMIN"})
    async def delete_everything() -> str:
        return "deleted"

    async def tool(request: Request) -> JSONResponse:
        return JSONResponse({"result": await delete_everything()})

    app = Starlette(routes=[Route("/tool", tool)], exception_handlers=exception_handlers())
    entries = [authward_tokens(tokens=sqlite_runtime.verifier)]
    transport = httpx.ASGITransport(app=AuthMiddleware(app, auth=entries))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        admin = await sqlite_runtime.machine_user_token("admin-machine-user")
        reader = await sqlite_runtime.machine_user_token("readonly-machine-user")
        assert (await c.get("/tool", headers=bearer(admin))).json() == {"result": "deleted"}
        refused = await c.get("/tool", headers=bearer(reader))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert "role" in refused.json()["message"]
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]


async def test_authenticate_request_takes_a_raw_asgi_scope(sqlite_runtime: Authward) -> None:
    from authward.channel import authenticate_request

    token = await sqlite_runtime.machine_user_token("admin-machine-user")
    scope = {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}
    state = await authenticate_request(
        scope, tokens=sqlite_runtime.verifier, api_keys=None, accepts_token=["oauth_token"]
    )
    assert state.is_authenticated
    assert state.token_type == "oauth_token"
    assert state.to_auth().to_principal().attributes["role"] == "ADMIN"
    refused = await authenticate_request(
        {"type": "http", "headers": []},
        tokens=sqlite_runtime.verifier,
        api_keys=None,
        accepts_token=["oauth_token"],
    )
    assert (refused.is_authenticated, refused.reason) == (False, "no-token")


async def test_a_token_already_accepted_is_checked_again_on_every_request(
    client: httpx.AsyncClient, sqlite_runtime: Authward, monkeypatch: pytest.MonkeyPatch
) -> None:
    aw = sqlite_runtime
    token = await aw.machine_user_token("admin-machine-user")
    for _ in range(2):  # the second request takes the remembered token's path
        assert (await client.get("/whoami", headers=bearer(token))).status_code == 200

    # The same header twice is still a malformed request, whatever was accepted before.
    doubled = httpx.Headers([("authorization", f"Bearer {token}")] * 2)
    response = await client.get("/whoami", headers=doubled)
    assert response.status_code == 400
    assert response.json()["message"] == "more than one Authorization header"

    _, claims = parts(token)
    monkeypatch.setattr(aw.verifier, "_clock", lambda: claims["exp"] + 31)
    response = await client.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["message"] == "token has expired"
    monkeypatch.undo()

    other = await aw.machine_user_token("admin-machine-user")
    assert (await client.get("/whoami", headers=bearer(other))).status_code == 200
    assert (await client.get("/whoami", headers=bearer(other))).status_code == 200
    await aw.revoke_token(other)
    response = await client.get("/whoami", headers=bearer(other))
    assert response.status_code == 401
    assert response.json()["message"] == "token has been revoked"
