"""The ID token of an external provider ("Sign in with ..."): another spelling of a valid token is
refused, and so is one not valid yet (``nbf``, with the leeway ``exp`` has).

The provider is a small Starlette app on a loopback port that publishes its discovery document
and JWKS; its ID tokens are signed here with its key, so the claims can be anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward import idp
from authward.oauth.upstream import Upstream
from authward.oauth.upstream_values import UpstreamError
from tests.peers.asgi import serve_asgi
from tests.respellings import RESPELLINGS, with_dash_or_underscore

CLIENT_ID = "authward-login-client"
NONCE = "n-0S6_WzA2Mj"
LEEWAY = 30


class Provider:
    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "op-1", "alg": "ES256"})
        self.issuer = ""

    def app(self) -> Starlette:
        async def discovery(request: Request) -> JSONResponse:
            return JSONResponse({"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"})

        async def jwks(request: Request) -> JSONResponse:
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
            ]
        )

    def id_token(self, **changes: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "op-olga",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": NONCE,
            **changes,
        }
        header = {"alg": "ES256", "kid": "op-1", "typ": "JWT"}
        return jws.serialize_compact(
            header, json.dumps(claims).encode(), self.key, algorithms=["ES256"]
        )


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    op = Provider()
    async with serve_asgi(op.app()) as url:
        op.issuer = url
        yield op


def upstream(op: Provider) -> Upstream:
    config = idp.provider("test-op", "web", issuer=op.issuer, client_id=CLIENT_ID)
    return Upstream(config, "https://authward.test/login/external/test-op/callback", leeway=LEEWAY)


async def refused(op: Provider, id_token: str) -> str:
    with pytest.raises(UpstreamError) as refusal:
        await upstream(op).verify_id_token(id_token, nonce=NONCE)
    assert refusal.value.reason == "id_token_invalid"
    return str(refusal.value)


@pytest.mark.parametrize("respell", RESPELLINGS.values(), ids=RESPELLINGS.keys())
async def test_another_spelling_of_an_id_token_is_refused(
    provider: Provider, respell: Callable[[str], str]
) -> None:
    token = with_dash_or_underscore(lambda n: provider.id_token(jti=f"j{n}"))
    assert "not a signed JWT" in await refused(provider, respell(token))
    claims = await upstream(provider).verify_id_token(token, nonce=NONCE)
    assert claims["sub"] == "op-olga"


@pytest.mark.parametrize(
    ("nbf", "why"),
    [
        (lambda now: now + LEEWAY + 60, "that is not valid yet (nbf)"),
        (lambda now: str(now), "with an nbf that is not a number"),
        (lambda now: None, "with an nbf that is not a number"),
    ],
    ids=["ahead of the leeway", "a string", "null"],
)
async def test_an_id_token_not_valid_yet_is_refused(
    provider: Provider, nbf: Callable[[int], Any], why: str
) -> None:
    token = provider.id_token(nbf=nbf(int(time.time())))
    assert await refused(provider, token) == f"test-op sent an ID token {why}."


@pytest.mark.parametrize("ahead", [LEEWAY, 0, -3600])
async def test_an_id_token_within_the_leeway_of_its_nbf_is_accepted(
    provider: Provider, ahead: int
) -> None:
    token = provider.id_token(nbf=int(time.time()) + ahead)
    claims = await upstream(provider).verify_id_token(token, nonce=NONCE)
    assert claims["sub"] == "op-olga"
