"""Our own JWTs (access tokens, session tokens) at the runtime: another spelling of a valid token
is refused, and ``nbf`` (RFC 7519 §4.1.5) holds with the leeway ``exp`` has."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from authward.channel import AuthMiddleware, authward_tokens
from authward.errors import TokenError
from authward.runtime import Authward
from authward.tokens.access_token import sign_access_token
from authward.tokens.session_token import sign_session_token
from tests.respellings import RESPELLINGS, with_dash_or_underscore


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return claims


async def access_token(aw: Authward, **changes: Any) -> str:
    """A machine user's token, re-signed with the issuer's key with ``changes`` to its claims;
    one whose signature has a ``-`` or ``_`` (standard base64 spells them ``+/``)."""
    claims = claims_of(await aw.machine_user_token("readonly-machine-user"))
    key = await aw.signing_keys.signer()
    return with_dash_or_underscore(
        lambda n: sign_access_token(key, {**claims, "jti": f"{claims['jti']}-{n}", **changes})
    )


async def refusal(aw: Authward, token: str) -> TokenError:
    with pytest.raises(TokenError) as refused:
        await aw.verify_access_token(token)
    return refused.value


@pytest.mark.parametrize("respell", RESPELLINGS.values(), ids=RESPELLINGS.keys())
async def test_another_spelling_of_an_access_token_is_refused(
    sqlite_runtime: Authward, respell: Callable[[str], str]
) -> None:
    token = await access_token(sqlite_runtime)
    refused = await refusal(sqlite_runtime, respell(token))
    assert refused.reason == "token-invalid"
    assert str(refused) == "token is malformed (not canonical base64url)"
    assert (await sqlite_runtime.verify_access_token(token)).attributes == {"role": "READER"}


async def test_a_protected_endpoint_refuses_another_spelling_after_the_real_one(
    sqlite_runtime: Authward,
) -> None:
    """The channel remembers the exact header values it accepted (its hot path): another
    spelling of the same token is not one of them and takes the full, strict path."""

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = AuthMiddleware(
        Starlette(routes=[Route("/", hello)]),
        auth=[authward_tokens(tokens=sqlite_runtime.verifier)],
    )
    token = await access_token(sqlite_runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for _ in range(2):
            response = await client.get("/", headers={"Authorization": f"Bearer {token}"})
            assert response.text == "ok"
        for name, respell in RESPELLINGS.items():
            response = await client.get("/", headers={"Authorization": f"Bearer {respell(token)}"})
            assert response.status_code == 401, name
            assert "not canonical base64url" in response.headers["www-authenticate"], name


@pytest.mark.parametrize("respell", RESPELLINGS.values(), ids=RESPELLINGS.keys())
async def test_another_spelling_of_a_session_token_is_refused(
    sqlite_runtime: Authward, respell: Callable[[str], str]
) -> None:
    secret, _ = await sqlite_runtime.sessions.create("user-1")
    for _ in range(200):
        token = await sqlite_runtime.sessions.mint_token(secret)
        if any(char in token.rsplit(".", 1)[1] for char in "-_"):
            break
    with pytest.raises(TokenError, match="not canonical base64url"):
        await sqlite_runtime.sessions.verify_token(respell(token))
    assert (await sqlite_runtime.sessions.verify_token(token)).user_id == "user-1"


# -- nbf -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nbf", "reason", "message"),
    [
        (
            lambda now, leeway: now + leeway + 60,
            "token-not-active-yet",
            "token is not valid yet (nbf)",
        ),
        (lambda now, leeway: str(now), "token-invalid", "nbf must be a number"),
        (lambda now, leeway: None, "token-invalid", "nbf must be a number"),
        (lambda now, leeway: True, "token-invalid", "nbf must be a number"),
    ],
    ids=["ahead of the leeway", "a string", "null", "a boolean"],
)
async def test_an_access_token_not_valid_yet_is_refused(
    sqlite_runtime: Authward, nbf: Callable[[int, int], Any], reason: str, message: str
) -> None:
    leeway = sqlite_runtime.settings.token_leeway_seconds
    token = await access_token(sqlite_runtime, nbf=nbf(int(time.time()), leeway))
    refused = await refusal(sqlite_runtime, token)
    assert (refused.reason, str(refused)) == (reason, message)


@pytest.mark.parametrize("ahead", ["leeway", 0, -3600])
async def test_an_access_token_within_the_leeway_of_its_nbf_is_accepted(
    sqlite_runtime: Authward, ahead: int | str
) -> None:
    leeway = sqlite_runtime.settings.token_leeway_seconds
    nbf = int(time.time()) + (leeway if ahead == "leeway" else int(ahead))
    token = await access_token(sqlite_runtime, nbf=nbf)
    assert (await sqlite_runtime.verify_access_token(token)).attributes == {"role": "READER"}


async def session_token(aw: Authward, **changes: Any) -> str:
    secret, _ = await aw.sessions.create("user-1")
    claims = claims_of(await aw.sessions.mint_token(secret))
    return sign_session_token(await aw.signing_keys.signer(), {**claims, **changes})


async def test_a_session_token_not_valid_yet_is_refused(sqlite_runtime: Authward) -> None:
    sessions = sqlite_runtime.sessions
    now = int(time.time())
    with pytest.raises(TokenError) as refused:
        await sessions.verify_token(await session_token(sqlite_runtime, nbf=now + 3600))
    assert refused.value.reason == "token-not-active-yet"
    with pytest.raises(TokenError) as refused:
        await sessions.verify_token(await session_token(sqlite_runtime, nbf="now"))
    assert refused.value.reason == "token-invalid"
    # Session tokens allow 5 s of skew on exp and iat, and so on nbf.
    token = await session_token(sqlite_runtime, nbf=now + 5)
    assert (await sessions.verify_token(token)).user_id == "user-1"
