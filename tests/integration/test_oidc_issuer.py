"""``oidc()`` against a real, independent OpenID provider (node-oidc-provider, tests/peers/).

The provider runs as a Node.js process on a free port; tokens come from its token endpoint
(client_credentials with a resource indicator, so they are RFC 9068 JWT access tokens). When node
or npm is missing the tests skip with a one-line reason, unless AUTHWARD_REQUIRE_SERVICES=1 (as in
CI), where they fail instead. A few edge cases that the provider cannot produce (a tiny RSA key, a
lying discovery document, ID-token-shaped JWTs) use an in-process issuer behind httpx's
MockTransport.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib
import json
import logging
import os
import selectors
import subprocess
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.warnings import InsecureKeyLengthWarning
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward.channel import AuthFn, AuthMiddleware, oidc
from authward.errors import ConfigError
from authward.principal import Principal
from tests.peers import PEER_DIR, REQUIRE_SERVICES, free_port, node_peer_problem
from tests.respellings import RESPELLINGS, with_dash_or_underscore

oidc_module = importlib.import_module("authward.channel.oidc")
keys_module = importlib.import_module("authward.oauth.issuer_keys")

AUDIENCE = "https://api.authward.test"
CLIENT_ID = "authward-test-client"
CLIENT_SECRET = "authward-test-secret-authward-test-secret"
DISCOVERY_PATH = "/.well-known/openid-configuration"
ALL_ALGS = ("RS256", "PS256", "ES256", "ES384", "EdDSA")
SERVER_ERROR = {
    "error": "server_error",
    "message": "the server could not authenticate this request",
}


# -- the peer: node-oidc-provider ----------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    issuer: str
    jwks_path: str
    process: subprocess.Popen[str]


@pytest.fixture(scope="session")
def peer_available() -> None:
    problem = node_peer_problem()
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(problem + " (AUTHWARD_REQUIRE_SERVICES=1)")
        pytest.skip(problem)


@contextmanager
def running_peer() -> Iterator[Peer]:
    port = free_port()
    env = {**os.environ, "OIDC_TEST_PORT": str(port), "OIDC_TEST_AUDIENCE": AUDIENCE}
    env.update(OIDC_TEST_CLIENT_ID=CLIENT_ID, OIDC_TEST_CLIENT_SECRET=CLIENT_SECRET)
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            ["node", "provider.js"],
            cwd=PEER_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert process.stdout is not None
        try:
            issuer = _wait_ready(process, stderr)
            jwks_uri = httpx.get(issuer + DISCOVERY_PATH).json()["jwks_uri"]
            yield Peer(issuer, httpx.URL(jwks_uri).path, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()


def _wait_ready(process: subprocess.Popen[str], stderr: Any) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                line = process.stdout.readline()
                if line.startswith("oidc-provider ready "):
                    return line.split()[-1]
                if line:
                    continue
            if process.poll() is not None:
                break
    stderr.seek(0)
    pytest.fail(f"the OpenID provider did not start: {stderr.read()[-2000:]}")


@pytest.fixture(scope="session")
def provider(peer_available: None) -> Iterator[Peer]:
    with running_peer() as peer:
        yield peer


@pytest.fixture(scope="session")
def other_provider(peer_available: None) -> Iterator[Peer]:
    """A second, independent instance: another issuer URL, other keys."""
    with running_peer() as peer:
        yield peer


async def mint(peer: Peer, resource: str = "es256") -> str:
    """A client_credentials access token from the provider's token endpoint."""
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{peer.issuer}/token",
            auth=(CLIENT_ID, CLIENT_SECRET),
            data={
                "grant_type": "client_credentials",
                "scope": "read write",
                "resource": f"https://api.authward.test/{resource}",
            },
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


# -- the resource server ---------------------------------------------------------------------------


class CountingTransport(httpx.AsyncBaseTransport):
    """A real transport that records the path of every request; can fail on demand, and can
    leave kids out of the first JWKS it passes on (a key published after we first looked)."""

    def __init__(self, jwks_path: str = "/jwks", hide_once: frozenset[str] = frozenset()) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.jwks_path = jwks_path
        self.hide_once = hide_once
        self.paths: list[str] = []
        self.fail = False

    def count(self, path: str) -> int:
        return self.paths.count(path)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.fail:
            raise httpx.ConnectError("connection refused (test)", request=request)
        response = await self.inner.handle_async_request(request)
        if request.url.path == self.jwks_path and self.hide_once:
            await response.aread()
            jwks = json.loads(response.content)
            jwks["keys"] = [k for k in jwks["keys"] if k["kid"] not in self.hide_once]
            self.hide_once = frozenset()
            return httpx.Response(200, json=jwks)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def transport() -> AsyncIterator[CountingTransport]:
    t = CountingTransport()
    yield t
    await t.aclose()


@pytest.fixture
async def http(transport: CountingTransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, timeout=5) as client:
        yield client


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The JWKS cache's clock, so that tests step over intervals instead of sleeping."""
    fake = FakeClock()
    monkeypatch.setattr(keys_module, "_monotonic", fake)
    return fake


async def whoami(request: Request) -> JSONResponse:
    p: Principal = request.state.auth
    return JSONResponse(
        {
            "authenticator": p.authenticator,
            "principal_type": p.principal_type,
            "principal_id": p.principal_id,
            "subject": p.subject,
            "attributes": {
                k: list(v) if isinstance(v, tuple) else v for k, v in p.attributes.items()
            },
        }
    )


def app_client(*entries: AuthFn) -> httpx.AsyncClient:
    app = AuthMiddleware(Starlette(routes=[Route("/whoami", whoami)]), auth=list(entries))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def call(entries: list[AuthFn] | AuthFn, token: str) -> httpx.Response:
    entries = entries if isinstance(entries, list) else [entries]
    async with app_client(*entries) as client:
        return await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})


def assert_refused(response: httpx.Response, message: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid_token", "message": message}
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="authward", error="invalid_token", error_description="{message}"'
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def reassemble(header: dict[str, Any], claims: dict[str, Any], signature: str) -> str:
    return ".".join((b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), signature))


FALLBACK = Principal(
    authenticator="next-entry", principal_type="user", principal_id="n1", subject="n1"
)


async def next_entry(request: HTTPConnection) -> Principal | None:
    return FALLBACK


# -- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["rs256", "ps256", "es256", "es384", "eddsa"])
async def test_a_token_of_the_issuer_is_accepted_with_its_principal(
    provider: Peer, http: httpx.AsyncClient, transport: CountingTransport, resource: str
) -> None:
    entry = oidc(provider.issuer, audience=AUDIENCE, algorithms=ALL_ALGS, http=http)
    token = await mint(provider, resource)
    for _ in range(3):
        response = await call(entry, token)
        assert response.status_code == 200, response.text
    assert response.json() == {
        "authenticator": f"oidc:{provider.issuer}",
        "principal_type": "machine",  # client_credentials: sub is the client itself
        "principal_id": CLIENT_ID,
        "subject": CLIENT_ID,
        "attributes": {
            "tokenType": "oauth_token",
            "scopes": ["read", "write"],
            "clientId": CLIENT_ID,
        },
    }
    # Discovery once, the JWKS once: the other requests ran on the cache.
    assert transport.paths == [DISCOVERY_PATH, provider.jwks_path]


async def test_concurrent_first_requests_share_one_fetch(
    provider: Peer, http: httpx.AsyncClient, transport: CountingTransport
) -> None:
    entry = oidc(provider.issuer, audience=[AUDIENCE, "https://other.authward.test"], http=http)
    token = await mint(provider, "rs256")
    async with app_client(entry) as client:
        responses = await asyncio.gather(
            *(client.get("/whoami", headers={"Authorization": f"Bearer {token}"}) for _ in range(8))
        )
    assert [r.status_code for r in responses] == [200] * 8
    assert transport.paths == [DISCOVERY_PATH, provider.jwks_path]


async def test_to_principal_maps_the_verified_token(
    provider: Peer, http: httpx.AsyncClient
) -> None:
    def mine(auth: oidc_module.OidcAuth) -> Principal | None:
        if "write" not in auth.scopes:
            return None
        return Principal(
            authenticator="partner",
            principal_type="machine",
            principal_id=auth.claims["jti"],
            subject=auth.subject,
            attributes={"partnerClient": auth.client_id or ""},
        )

    token = await mint(provider)
    response = await call(
        oidc(provider.issuer, audience=AUDIENCE, to_principal=mine, http=http), token
    )
    assert response.status_code == 200
    body = response.json()
    assert body["authenticator"] == "partner"
    assert body["attributes"] == {"partnerClient": CLIENT_ID}


# -- falls through ---------------------------------------------------------------------------------


async def test_another_issuers_token_falls_through_without_any_fetch(
    provider: Peer, other_provider: Peer, http: httpx.AsyncClient, transport: CountingTransport
) -> None:
    entry = oidc(provider.issuer, audience=AUDIENCE, http=http)
    foreign = await mint(other_provider)
    response = await call([entry, next_entry], foreign)
    assert response.status_code == 200
    assert response.json()["authenticator"] == "next-entry"
    # Alone in the chain, nobody accepts it: the plain "no authenticator" answer, not a refusal.
    response = await call(entry, foreign)
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_required"
    # The other instance's own entry accepts it.
    response = await call(oidc(other_provider.issuer, audience=AUDIENCE, http=http), foreign)
    assert response.status_code == 200
    assert response.json()["authenticator"] == f"oidc:{other_provider.issuer}"
    assert transport.paths == [DISCOVERY_PATH, other_provider.jwks_path]


@pytest.mark.parametrize(
    "token",
    ["ak_notAnAuthwardKeyButShapedLikeOne", "opaque-access-token", "a.b.c", "e30.e30.sig"],
)
async def test_what_is_not_a_jwt_of_the_issuer_falls_through(
    provider: Peer, http: httpx.AsyncClient, transport: CountingTransport, token: str
) -> None:
    response = await call([oidc(provider.issuer, audience=AUDIENCE, http=http), next_entry], token)
    assert response.status_code == 200
    assert response.json()["authenticator"] == "next-entry"
    assert transport.paths == []


async def test_no_credentials_falls_through(provider: Peer, http: httpx.AsyncClient) -> None:
    async with app_client(oidc(provider.issuer, audience=AUDIENCE, http=http), next_entry) as c:
        response = await c.get("/whoami")
    assert response.json()["authenticator"] == "next-entry"


# -- refused ---------------------------------------------------------------------------------------


async def test_a_token_for_another_audience_is_refused(
    provider: Peer, http: httpx.AsyncClient
) -> None:
    token = await mint(provider, "elsewhere")
    response = await call([oidc(provider.issuer, audience=AUDIENCE, http=http), next_entry], token)
    assert_refused(response, "token is not meant for this audience")


async def test_an_expired_token_is_refused_after_the_leeway(
    provider: Peer, http: httpx.AsyncClient
) -> None:
    token = await mint(provider, "short")  # the provider gives it one second
    exp = unb64(token.split(".")[1])["exp"]
    await asyncio.sleep(max(0.0, exp - time.time() + 0.05))
    strict = oidc(provider.issuer, audience=AUDIENCE, leeway=0, http=http)
    assert_refused(await call(strict, token), "token has expired")
    lenient = oidc(provider.issuer, audience=AUDIENCE, leeway=60, http=http)
    assert (await call(lenient, token)).status_code == 200


async def test_a_tampered_or_stripped_token_is_refused(
    provider: Peer, http: httpx.AsyncClient
) -> None:
    entry = oidc(provider.issuer, audience=AUDIENCE, http=http)
    token = await mint(provider, "rs256")
    head, payload, signature = token.split(".")
    claims = unb64(payload)
    tampered = reassemble(unb64(head), {**claims, "sub": "admin"}, signature)
    assert_refused(await call([entry, next_entry], tampered), "token signature is not valid")
    assert_refused(await call(entry, f"{head}.{payload}."), "token signature is not valid")
    # Another alg than the key was published for: PS256 on the ES256 key.
    es_head = unb64((await mint(provider, "es256")).split(".")[0])
    confused = reassemble({**es_head, "alg": "PS256"}, claims, signature)
    assert_refused(await call(entry, confused), "token's alg does not match its key")


async def test_alg_none_and_hs256_with_the_public_key_are_refused(
    provider: Peer, http: httpx.AsyncClient
) -> None:
    entry = oidc(provider.issuer, audience=AUDIENCE, http=http)
    token = await mint(provider, "rs256")
    head, payload, _ = token.split(".")
    header, claims = unb64(head), unb64(payload)
    unsigned = reassemble({**header, "alg": "none"}, claims, "")
    assert_refused(await call([entry, next_entry], unsigned), "token's alg is not allowed")
    # The classic confusion: HMAC keyed with the issuer's public RSA key (as PEM, and as JWK).
    async with httpx.AsyncClient() as client:
        jwks = (await client.get(provider.issuer + provider.jwks_path)).json()
    rsa_jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public = RSAAlgorithm.from_jwk(rsa_jwk)
    assert isinstance(public, rsa.RSAPublicKey)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (pem, json.dumps(rsa_jwk).encode()):
        hs_header = {**header, "alg": "HS256"}
        signing_input = f"{b64(json.dumps(hs_header).encode())}.{payload}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        forged = f"{signing_input}.{b64(mac)}"
        assert_refused(await call([entry, next_entry], forged), "token's alg is not allowed")


async def test_an_alg_left_out_of_the_allow_list_is_refused(
    provider: Peer, http: httpx.AsyncClient
) -> None:
    token = await mint(provider, "es384")  # a good token; ES384 is not in the default list
    assert_refused(
        await call(oidc(provider.issuer, audience=AUDIENCE, http=http), token),
        "token's alg is not allowed",
    )
    only_rsa = oidc(provider.issuer, audience=AUDIENCE, algorithms=["RS256"], http=http)
    assert_refused(
        await call(only_rsa, await mint(provider, "ps256")), "token's alg is not allowed"
    )


# -- keys: cache and re-fetch ----------------------------------------------------------------------


async def test_an_unknown_kid_refetches_the_jwks_at_most_once_per_interval(
    provider: Peer, clock: FakeClock
) -> None:
    token = await mint(provider, "eddsa")
    kid = unb64(token.split(".")[0])["kid"]
    # The first JWKS we see lacks the key (published after we looked, as in a rotation).
    transport = CountingTransport(provider.jwks_path, hide_once=frozenset({kid}))
    async with httpx.AsyncClient(transport=transport) as http:
        entry = oidc(provider.issuer, audience=AUDIENCE, min_refetch_interval=30, http=http)

        # First use fetches discovery and the JWKS; a refetch right after is not allowed yet.
        refused = "token was not signed by a key of this issuer"
        assert_refused(await call(entry, token), refused)
        assert transport.count(provider.jwks_path) == 1

        clock.now += 30  # the interval has passed: the unknown kid makes us look once more
        assert (await call(entry, token)).status_code == 200
        assert transport.count(provider.jwks_path) == 2

        head, payload, signature = token.split(".")
        forged = reassemble({**unb64(head), "kid": "no-such-key"}, unb64(payload), signature)
        for _ in range(5):
            assert_refused(await call(entry, forged), refused)
        assert transport.count(provider.jwks_path) == 2  # within the interval: no fetch

        clock.now += 31
        for _ in range(5):
            assert_refused(await call(entry, forged), refused)
        assert transport.count(provider.jwks_path) == 3  # one fetch for five unknown kids
        assert transport.count(DISCOVERY_PATH) == 1


async def test_the_jwks_is_refreshed_and_a_failed_refresh_keeps_the_keys(
    provider: Peer,
    http: httpx.AsyncClient,
    transport: CountingTransport,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = oidc(provider.issuer, audience=AUDIENCE, jwks_refresh_seconds=300, http=http)
    token = await mint(provider)
    assert (await call(entry, token)).status_code == 200
    clock.now += 299
    assert (await call(entry, token)).status_code == 200
    assert transport.count(provider.jwks_path) == 1

    clock.now += 1  # the JWKS is 300 s old: refreshed on the next request
    assert (await call(entry, token)).status_code == 200
    assert transport.count(provider.jwks_path) == 2

    transport.fail = True
    clock.now += 300
    with caplog.at_level(logging.WARNING, "authward.oauth.issuer_keys"):
        assert (await call(entry, token)).status_code == 200  # stale keys still verify
    assert "keeping the keys fetched before" in caplog.text
    attempts = len(transport.paths)
    assert (await call(entry, token)).status_code == 200
    assert len(transport.paths) == attempts  # no retry before min_refetch_interval

    transport.fail = False
    clock.now += 30
    assert (await call(entry, token)).status_code == 200
    # The failure forgot the jwks_uri: discovery again, then the JWKS.
    assert transport.paths[-2:] == [DISCOVERY_PATH, provider.jwks_path]


async def test_a_provider_down_at_first_use_is_a_500_that_leaks_nothing(
    peer_available: None, caplog: pytest.LogCaptureFixture
) -> None:
    with running_peer() as peer:
        token = await mint(peer)
        issuer = peer.issuer
    entry = oidc(issuer, audience=AUDIENCE)  # its own short-lived clients: nothing to close
    with caplog.at_level(logging.ERROR, "authward.channel"):
        response = await call([entry, next_entry], token)
    assert response.status_code == 500
    assert response.json() == SERVER_ERROR
    assert issuer.split("//")[1] not in response.text
    assert "www-authenticate" not in response.headers
    assert f"could not be fetched from {issuer}{DISCOVERY_PATH}" in caplog.text
    assert "IssuerUnavailable" in caplog.text


# -- an in-process issuer for what the provider cannot produce -------------------------------------

LOCAL = "https://idp.authward.test"


class LocalIssuer:
    def __init__(self, *, discovery_issuer: str = LOCAL) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = {**json.loads(ECAlgorithm.to_jwk(self.key.public_key())), "kid": "local-1"}
        # Deliberately too small: the JWKS publishes it, oidc() must never use it.
        self.small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
        small_jwk = json.loads(RSAAlgorithm.to_jwk(self.small.public_key()))
        self.jwks = {"keys": [{**self.jwk, "alg": "ES256"}, {**small_jwk, "kid": "small"}]}
        self.discovery = {"issuer": discovery_issuer, "jwks_uri": f"{LOCAL}/keys"}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == DISCOVERY_PATH:
            return httpx.Response(200, json=self.discovery)
        if request.url.path == "/keys":
            return httpx.Response(200, json=self.jwks)
        return httpx.Response(404)

    def token(self, headers: dict[str, Any] | None = None, key: Any = None, **claims: Any) -> str:
        """A signed JWT of this issuer; a header or claim given as None is left out."""
        now = int(time.time())
        body = {"iss": LOCAL, "sub": "user-42", "aud": AUDIENCE, "iat": now, "exp": now + 60}
        body.update(claims)
        header = {"kid": "local-1" if key is None else "small", **(headers or {})}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # the small key, on purpose
            return jwt.encode(
                {k: v for k, v in body.items() if v is not None},
                key or self.key,
                algorithm="ES256" if key is None else "RS256",
                # PyJWT drops a typ of None itself.
                headers={k: v for k, v in header.items() if v is not None or k == "typ"},
            )


@pytest.fixture
async def local() -> AsyncIterator[tuple[LocalIssuer, httpx.AsyncClient]]:
    issuer = LocalIssuer()
    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handler)) as http:
        yield issuer, http


async def test_id_token_shaped_jwts_of_a_user(local: tuple[LocalIssuer, httpx.AsyncClient]) -> None:
    issuer, http = local
    entry = oidc(LOCAL, audience=AUDIENCE, http=http)
    for typ in ("JWT", None, "application/at+jwt"):
        token = issuer.token({"typ": typ}, azp="spa-client", scp=["profile", "email"])
        response = await call(entry, token)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "authenticator": f"oidc:{LOCAL}",
            "principal_type": "user",
            "principal_id": "user-42",
            "subject": "user-42",
            "attributes": {
                "tokenType": "oauth_token",
                "scopes": ["profile", "email"],
                "clientId": "spa-client",
            },
        }
    machine = issuer.token(sub="svc@clients", gty="client-credentials", client_id="svc")
    assert (await call(entry, machine)).json()["principal_type"] == "machine"


@pytest.mark.parametrize(
    ("headers", "claims", "message"),
    [
        ({"typ": "logout+jwt"}, {}, "token type is not accepted (typ must be JWT or at+jwt)"),
        ({"kid": None}, {}, "token has no kid"),
        ({}, {"sub": None}, "token has no subject"),
        ({}, {"aud": None}, "token is not meant for this audience"),
        ({}, {"exp": None}, "token has no valid expiry"),
        ({}, {"nbf": int(time.time()) + 3600}, "token is not valid yet"),
        ({}, {"nbf": str(int(time.time()))}, "nbf and iat must be numbers"),
        ({}, {"nbf": True}, "nbf and iat must be numbers"),
        ({}, {"iat": int(time.time()) + 3600}, "token was issued in the future"),
        ({}, {"cnf": {"jkt": "abc"}}, "a DPoP-bound token needs DPoP"),
    ],
)
async def test_bad_headers_and_claims_are_refused(
    local: tuple[LocalIssuer, httpx.AsyncClient],
    headers: dict[str, Any],
    claims: dict[str, Any],
    message: str,
) -> None:
    issuer, http = local
    token = issuer.token(headers, **claims)
    assert_refused(await call(oidc(LOCAL, audience=AUDIENCE, http=http), token), message)


@pytest.mark.parametrize("ahead", [30, 0, -3600])
async def test_a_token_within_the_leeway_of_its_nbf_is_accepted(
    local: tuple[LocalIssuer, httpx.AsyncClient], ahead: int
) -> None:
    issuer, http = local
    token = issuer.token(nbf=int(time.time()) + ahead)  # the entry's leeway is 30 s
    response = await call(oidc(LOCAL, audience=AUDIENCE, http=http), token)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("respell", RESPELLINGS.values(), ids=RESPELLINGS.keys())
async def test_another_spelling_of_a_token_is_not_accepted(
    local: tuple[LocalIssuer, httpx.AsyncClient], respell: Any
) -> None:
    issuer, http = local
    entry = oidc(LOCAL, audience=AUDIENCE, http=http)
    token = with_dash_or_underscore(lambda n: issuer.token(jti=str(n)))
    assert (await call(entry, respell(token))).status_code == 401
    assert (await call(entry, token)).status_code == 200


async def test_a_small_rsa_key_is_never_used(
    local: tuple[LocalIssuer, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    issuer, http = local
    token = issuer.token(key=issuer.small)
    with caplog.at_level(logging.WARNING, "authward.oauth.issuer_keys"):
        response = await call(oidc(LOCAL, audience=AUDIENCE, http=http), token)
    assert_refused(response, "token's signing key is not accepted")
    assert "RSA key of 1024 bits" in caplog.text


async def test_a_discovery_document_of_another_issuer_is_a_server_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer = LocalIssuer(discovery_issuer="https://evil.authward.test")
    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handler)) as http:
        with caplog.at_level(logging.ERROR, "authward.channel"):
            response = await call(oidc(LOCAL, audience=AUDIENCE, http=http), issuer.token())
    assert response.status_code == 500
    assert response.json() == SERVER_ERROR
    assert "names issuer 'https://evil.authward.test'" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"algorithms": ["none"]}, "algorithms"),
        ({"algorithms": ["HS256", "RS256"]}, "algorithms"),
        ({"algorithms": ["RS1"]}, "algorithms"),
        ({"algorithms": []}, "algorithms"),
        ({"issuer": "http://idp.authward.test"}, "issuer"),
        ({"issuer": "https://idp.authward.test/?tenant=1"}, "issuer"),
        ({"audience": []}, "audience"),
        ({"leeway": -1}, "leeway"),
        ({"min_refetch_interval": -1}, "min_refetch_interval"),
    ],
)
def test_impossible_settings_fail_when_the_entry_is_built(
    kwargs: dict[str, Any], path: str
) -> None:
    settings: dict[str, Any] = {"issuer": LOCAL, "audience": AUDIENCE, **kwargs}
    with pytest.raises(ConfigError) as err:
        oidc(**settings)
    assert err.value.issues[0].path == path
