"""DPoP at a resource (RFC 9449 §7): a bound token needs a proof for this request, this token and
its key, on every request; proofs are single-use across every runtime sharing the store; server
nonces made by one runtime are good at another."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import OKPKey
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward.channel import AuthMiddleware, authenticate_request, authward_tokens
from authward.config import Config
from authward.runtime import Authward
from authward.store.dpop import DpopJtiStore
from authward.store.schema import dpop_proofs
from authward.tokens.access_token import AccessTokenClaims, sign_access_token
from authward.tokens.verifier import token_digest
from tests.conftest import SettingsFactory
from tests.unit.test_dpop import make_proof, new_key

BASE = "http://testserver"
URL = f"{BASE}/whoami"
ALGS = "EdDSA Ed25519 ES256 ES384 PS256 RS256"


async def access_token(aw: Authward, jkt: str | None = None, *, lifetime: int = 300) -> str:
    """A machine user's access token signed with the runtime's key, bound to ``jkt`` if given
    (what the token endpoint will issue to a DPoP client)."""
    stored = await aw.machine_users.get("admin-machine-user")
    assert stored is not None
    now = int(time.time())
    claims = AccessTokenClaims(
        issuer=aw.issuer,
        subject=str(stored.id),
        audience=aw.audience,
        client_id=stored.client_id,
        issued_at=now - 10,
        expires_at=now + lifetime,
        attribute_map=stored.attributes,
        attributes=stored.attribute_list,
        cnf_jkt=jkt,
    )
    return sign_access_token(await aw.signing_keys.signer(), claims.to_jwt_claims())


async def whoami(request: Request) -> JSONResponse:
    principal = request.state.auth
    return JSONResponse({"id": principal.principal_id, "role": principal.attributes.get("role")})


def client_for(aw: Authward, *, dpop: bool = True) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/whoami", whoami, methods=["GET", "POST"])])
    entry = authward_tokens(tokens=aw.verifier, dpop=aw.dpop if dpop else None)
    transport = httpx.ASGITransport(app=AuthMiddleware(app, auth=[entry]))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


@pytest.fixture
async def client(runtime: Authward) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(runtime) as c:
        yield c


@pytest.fixture
async def sqlite_client(sqlite_runtime: Authward) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sqlite_runtime) as c:
        yield c


@pytest.fixture
def key() -> OKPKey:
    return OKPKey.generate_key("Ed25519")


def dpop(token: str, proof: str | None) -> dict[str, str]:
    headers = {"Authorization": f"DPoP {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return headers


def assert_dpop_refusal(response: httpx.Response, code: str, message: str) -> None:
    assert response.status_code == 401
    assert response.json() == {"error": code, "message": message}
    assert response.headers["www-authenticate"] == (
        f'DPoP realm="authward", error="{code}", error_description="{message}", algs="{ALGS}"'
    )
    assert response.headers["cache-control"] == "no-store"


async def open_second(
    database_url: str, settings_for: SettingsFactory, config: Config, **settings: Any
) -> Authward:
    """Another server process on the same store and instance key."""
    return await Authward.open(config, settings_for(database_url, **settings), migrate=True)


async def test_a_bound_token_with_its_proof_is_accepted(
    client: httpx.AsyncClient, runtime: Authward, key: OKPKey
) -> None:
    token = await access_token(runtime, key.thumbprint())
    response = await client.get(
        "/whoami", headers=dpop(token, make_proof(key, htu=URL, access_token=token))
    )
    assert response.status_code == 200, response.text
    stored = await runtime.machine_users.get("admin-machine-user")
    assert stored is not None
    assert response.json() == {"id": str(stored.id), "role": "ADMIN"}


async def test_a_proof_is_good_for_one_request_only(
    client: httpx.AsyncClient, runtime: Authward, key: OKPKey
) -> None:
    token = await access_token(runtime, key.thumbprint())
    proof = make_proof(key, htu=URL, access_token=token)
    assert (await client.get("/whoami", headers=dpop(token, proof))).status_code == 200
    replayed = await client.get("/whoami", headers=dpop(token, proof))
    assert_dpop_refusal(replayed, "invalid_dpop_proof", "DPoP proof replayed")


async def test_a_cached_token_still_needs_a_proof_every_time(
    client: httpx.AsyncClient, runtime: Authward, key: OKPKey
) -> None:
    token = await access_token(runtime, key.thumbprint())
    first = await client.get(
        "/whoami", headers=dpop(token, make_proof(key, htu=URL, access_token=token))
    )
    assert first.status_code == 200
    assert runtime.verifier.has_verified(token_digest(token.encode()))
    bare = await client.get("/whoami", headers=dpop(token, None))
    assert_dpop_refusal(bare, "invalid_dpop_proof", "the request has no DPoP proof")
    other_key = await client.get(
        "/whoami", headers=dpop(token, make_proof(new_key(), htu=URL, access_token=token))
    )
    assert_dpop_refusal(
        other_key,
        "invalid_dpop_proof",
        "the DPoP proof's key is not the one the token is bound to",
    )
    fresh = await client.get(
        "/whoami", headers=dpop(token, make_proof(key, htu=URL, access_token=token))
    )
    assert fresh.status_code == 200


async def test_a_bound_token_as_bearer_is_refused(
    sqlite_client: httpx.AsyncClient, sqlite_runtime: Authward, key: OKPKey
) -> None:
    token = await access_token(sqlite_runtime, key.thumbprint())
    response = await sqlite_client.get(
        "/whoami",
        headers={
            "Authorization": f"Bearer {token}",
            "DPoP": make_proof(key, htu=URL, access_token=token),
        },
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "message": "a DPoP-bound token needs DPoP"}
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="authward", error="invalid_token"'
    )


@pytest.mark.parametrize(
    ("proof_for", "message"),
    [
        ({"htm": "POST"}, "the DPoP proof's htm is not this request's method"),
        ({"htu": f"{BASE}/other"}, "the DPoP proof's htu is not this request's URL"),
        (
            {"htu": "http://elsewhere.example/whoami"},
            "the DPoP proof's htu is not this request's URL",
        ),
        ({"htu": "https://testserver/whoami"}, "the DPoP proof's htu is not this request's URL"),
        ({"no_ath": True}, "the DPoP proof has no ath for the access token"),
        ({"token": "another"}, "the DPoP proof's ath does not match the access token"),
        ({"other_key": True}, "the DPoP proof's key is not the one the token is bound to"),
        ({"iat": -120}, "the DPoP proof is too old"),
        ({"typ": "JWT"}, "the DPoP proof's typ must be dpop+jwt"),
    ],
)
async def test_a_proof_not_made_for_this_request_is_refused(
    sqlite_client: httpx.AsyncClient,
    sqlite_runtime: Authward,
    key: OKPKey,
    proof_for: dict[str, Any],
    message: str,
) -> None:
    token = await access_token(sqlite_runtime, key.thumbprint())
    signer = new_key() if proof_for.get("other_key") else key
    proof = make_proof(
        signer,
        htm=proof_for.get("htm", "GET"),
        htu=proof_for.get("htu", URL),
        iat=time.time() + proof_for["iat"] if "iat" in proof_for else None,
        access_token=None if proof_for.get("no_ath") else proof_for.get("token", token),
        header={"typ": proof_for["typ"]} if "typ" in proof_for else None,
    )
    response = await sqlite_client.get("/whoami", headers=dpop(token, proof))
    assert_dpop_refusal(response, "invalid_dpop_proof", message)


async def test_query_is_not_part_of_htu(
    sqlite_client: httpx.AsyncClient, sqlite_runtime: Authward, key: OKPKey
) -> None:
    token = await access_token(sqlite_runtime, key.thumbprint())
    proof = make_proof(key, htm="POST", htu=URL, access_token=token)
    response = await sqlite_client.post("/whoami?page=2", headers=dpop(token, proof))
    assert response.status_code == 200, response.text


async def test_two_dpop_headers_are_refused(
    sqlite_client: httpx.AsyncClient, sqlite_runtime: Authward, key: OKPKey
) -> None:
    token = await access_token(sqlite_runtime, key.thumbprint())
    headers = httpx.Headers(
        [
            ("Authorization", f"DPoP {token}"),
            ("DPoP", make_proof(key, htu=URL, access_token=token)),
            ("DPoP", make_proof(key, htu=URL, access_token=token)),
        ]
    )
    response = await sqlite_client.get("/whoami", headers=headers)
    assert_dpop_refusal(response, "invalid_dpop_proof", "more than one DPoP header")


async def test_an_unbound_token_may_use_dpop_but_then_needs_a_proof(
    sqlite_client: httpx.AsyncClient, sqlite_runtime: Authward, key: OKPKey
) -> None:
    token = await access_token(sqlite_runtime)
    proof = make_proof(key, htu=URL, access_token=token)
    assert (await sqlite_client.get("/whoami", headers=dpop(token, proof))).status_code == 200
    response = await sqlite_client.get("/whoami", headers=dpop(token, None))
    assert_dpop_refusal(response, "invalid_dpop_proof", "the request has no DPoP proof")
    # The same unbound token as Bearer is fine.
    bearer = await sqlite_client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200


async def test_a_bad_token_under_dpop_gets_the_dpop_challenge(
    sqlite_client: httpx.AsyncClient, sqlite_runtime: Authward, key: OKPKey
) -> None:
    token = await access_token(sqlite_runtime, key.thumbprint(), lifetime=-100)
    proof = make_proof(key, htu=URL, access_token=token)
    response = await sqlite_client.get("/whoami", headers=dpop(token, proof))
    assert_dpop_refusal(response, "invalid_token", "token has expired")


async def test_without_a_dpop_verifier_the_dpop_scheme_is_refused(
    sqlite_runtime: Authward, key: OKPKey
) -> None:
    token = await access_token(sqlite_runtime, key.thumbprint())
    async with client_for(sqlite_runtime, dpop=False) as c:
        response = await c.get(
            "/whoami", headers=dpop(token, make_proof(key, htu=URL, access_token=token))
        )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "message": "DPoP is not accepted here"}
    assert response.headers["www-authenticate"].startswith(
        'DPoP realm="authward", error="invalid_token"'
    )


async def test_authenticate_request_checks_the_proof_on_a_raw_scope(
    sqlite_runtime: Authward, key: OKPKey
) -> None:
    aw = sqlite_runtime
    token = await access_token(aw, key.thumbprint())

    def scope(proof: str) -> dict[str, Any]:
        return {
            "type": "http",
            "method": "DELETE",
            "scheme": "https",
            "path": "/items/1",
            "raw_path": b"/items/1",
            "query_string": b"",
            "headers": [
                (b"host", b"API.example.com:443"),
                (b"authorization", f"DPoP {token}".encode()),
                (b"dpop", proof.encode()),
            ],
        }

    good = make_proof(key, htm="DELETE", htu="https://api.example.com/items/1", access_token=token)
    state = await authenticate_request(
        scope(good), tokens=aw.verifier, api_keys=None, accepts_token=["oauth_token"], dpop=aw.dpop
    )
    assert state.is_authenticated
    assert state.to_auth().client_id
    bad = make_proof(key, htm="DELETE", htu="https://api.example.com/items/2", access_token=token)
    state = await authenticate_request(
        scope(bad), tokens=aw.verifier, api_keys=None, accepts_token=["oauth_token"], dpop=aw.dpop
    )
    assert (state.is_authenticated, state.reason, state.challenge) == (
        False,
        "dpop-proof-invalid",
        "DPoP",
    )


async def test_a_proof_used_at_one_runtime_is_refused_at_another(
    runtime: Authward,
    database_url: str,
    settings_for: SettingsFactory,
    example_config: Config,
    key: OKPKey,
) -> None:
    other = await open_second(database_url, settings_for, example_config)
    try:
        token = await access_token(runtime, key.thumbprint())
        proof = make_proof(key, htu=URL, access_token=token)
        async with client_for(runtime) as a, client_for(other) as b:
            assert (await a.get("/whoami", headers=dpop(token, proof))).status_code == 200
            replayed = await b.get("/whoami", headers=dpop(token, proof))
            assert_dpop_refusal(replayed, "invalid_dpop_proof", "DPoP proof replayed")
            # And the other way round, for a proof first seen by the second runtime.
            second = make_proof(key, htu=URL, access_token=token)
            assert (await b.get("/whoami", headers=dpop(token, second))).status_code == 200
            assert_dpop_refusal(
                await a.get("/whoami", headers=dpop(token, second)),
                "invalid_dpop_proof",
                "DPoP proof replayed",
            )
    finally:
        await other.close()


async def test_a_required_nonce_is_asked_for_then_accepted_from_any_runtime(
    runtime: Authward,
    database_url: str,
    settings_for: SettingsFactory,
    example_config: Config,
    key: OKPKey,
) -> None:
    strict = await open_second(database_url, settings_for, example_config, dpop_require_nonce=True)
    try:
        token = await access_token(runtime, key.thumbprint())
        async with client_for(strict) as c:
            asked = await c.get(
                "/whoami", headers=dpop(token, make_proof(key, htu=URL, access_token=token))
            )
            message = "a DPoP nonce is required (use the DPoP-Nonce)"
            assert asked.headers["www-authenticate"] == (
                f'DPoP realm="authward", error="use_dpop_nonce", error_description="{message}", '
                f'algs="{ALGS}"'
            )
            assert asked.status_code == 401
            assert asked.json() == {"error": "use_dpop_nonce", "message": message}
            nonce = asked.headers["dpop-nonce"]
            retry = make_proof(key, htu=URL, access_token=token, nonce=nonce)
            assert (await c.get("/whoami", headers=dpop(token, retry))).status_code == 200
            # A nonce handed out by another process of the same instance is just as good.
            theirs = make_proof(key, htu=URL, access_token=token, nonce=runtime.dpop.nonce())
            assert (await c.get("/whoami", headers=dpop(token, theirs))).status_code == 200
            # One this instance never made is not, and the answer carries a good one.
            forged = make_proof(key, htu=URL, access_token=token, nonce="A" * 32)
            refused = await c.get("/whoami", headers=dpop(token, forged))
            assert refused.json()["error"] == "use_dpop_nonce"
            assert refused.headers["dpop-nonce"] == runtime.dpop.nonce()
    finally:
        await strict.close()


async def test_expired_proofs_are_swept_and_their_rows_reused(runtime: Authward) -> None:
    store = DpopJtiStore(runtime.engine, sweep_seconds=0)
    now = int(time.time())
    for n in range(3):
        assert await store.remember(f"{n:064x}", now - 1)
    # The next insert sweeps what has expired; what is live stays.
    assert await store.remember("f" * 64, now + 60)
    async with runtime.engine.connect() as conn:
        left = (await conn.execute(select(dpop_proofs.c.digest))).scalars().all()
    assert left == ["f" * 64]
    assert not await store.remember("f" * 64, now + 60)
    assert await store.remember("f" * 63 + "e", now - 1)
    assert await store.remember("f" * 63 + "e", now + 60)  # expired row taken over
