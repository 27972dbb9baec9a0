"""DPoP proof validation (RFC 9449 §4.3): every way a proof must be refused, with real keys and
real signatures, remembered in a real (SQLite) replay store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from authward.oauth.dpop import (
    DpopNonces,
    DpopVerifier,
    access_token_hash,
    normalise_htu,
    single_dpop_header,
)
from authward.oauth.errors import InvalidDpopProof, UseDpopNonce
from authward.runtime import Authward
from authward.store.dpop import DpopJtiStore
from authward.store.engine import create_engine
from authward.store.schema import dpop_proofs, metadata
from tests.respellings import RESPELLINGS, with_dash_or_underscore

URL = "https://api.example.com/orders"
ProofKey = OKPKey | ECKey | RSAKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key(alg: str = "EdDSA") -> ProofKey:
    if alg in ("EdDSA", "Ed25519"):
        return OKPKey.generate_key("Ed25519")
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    if alg == "ES384":
        return ECKey.generate_key("P-384")
    return RSAKey.generate_key(2048)


def make_proof(
    key: ProofKey,
    *,
    htm: str = "GET",
    htu: str = URL,
    alg: str | None = None,
    iat: float | None = None,
    jti: str | None = None,
    access_token: str | None = None,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A proof signed with ``key`` for real; ``header``/``claims`` change or add members
    (a value of None removes one)."""
    alg = (
        alg
        or {"OKP": "EdDSA", "RSA": "PS256"}.get(key.key_type)
        or ("ES256" if key.as_dict()["crv"] == "P-256" else "ES384")
    )
    head: dict[str, Any] = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    payload: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16) if jti is None else jti,
        "htm": htm,
        "htu": htu,
        "iat": int(time.time()) if iat is None else iat,
    }
    if access_token is not None:
        payload["ath"] = access_token_hash(access_token)
    head.update(header or {})
    payload.update(claims)
    head = {k: v for k, v in head.items() if v is not None}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jws.serialize_compact(head, json.dumps(payload).encode(), key, algorithms=[head["alg"]])


def small_rsa_jwk() -> dict[str, str]:
    # Deliberately weak: the verifier must refuse it.
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()  # noqa: S505
    return {
        "kty": "RSA",
        "n": b64(numbers.n.to_bytes(128, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(payload).encode())
    return f"{head}.{body}.{b64(signature)}"


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def nonce_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DpopJtiStore]:
    """The replay table alone, on a real SQLite file (the full runtime is tested elsewhere)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dpop.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all, tables=[dpop_proofs])
    yield DpopJtiStore(engine)
    await engine.dispose()


@pytest.fixture
def verifier(store: DpopJtiStore, clock: Clock, nonce_key: bytes) -> DpopVerifier:
    return DpopVerifier(store, DpopNonces([nonce_key], clock=clock), clock=clock)


async def refusal(verifier: DpopVerifier, proof: str | None, **kwargs: Any) -> str:
    kwargs.setdefault("method", "GET")
    kwargs.setdefault("url", URL)
    with pytest.raises(InvalidDpopProof) as err:
        await verifier.verify(proof, **kwargs)
    assert err.value.code == "invalid_dpop_proof"
    return err.value.description


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519", "ES256", "ES384", "PS256", "RS256"])
async def test_a_valid_proof_is_accepted_and_names_its_key(
    verifier: DpopVerifier, alg: str
) -> None:
    key = new_key(alg)
    proof = make_proof(key, alg=alg, jti="one")
    checked = await verifier.verify(proof, method="GET", url=URL)
    assert checked.jkt == key.thumbprint()
    assert (checked.jti, checked.htm, checked.htu) == ("one", "GET", URL)
    assert dict(checked.public_jwk) == key.as_dict(private=False)
    assert "d" not in checked.public_jwk


async def test_the_runtime_offers_a_verifier(sqlite_runtime: Authward) -> None:
    key = new_key()
    proof = make_proof(key, htm="POST", htu="http://127.0.0.1:8000/oauth2/token")
    checked = await sqlite_runtime.dpop.verify(
        proof, method="POST", url="http://127.0.0.1:8000/oauth2/token"
    )
    assert checked.jkt == key.thumbprint()
    assert "EdDSA" in sqlite_runtime.dpop.algorithms
    assert "none" not in sqlite_runtime.dpop.algorithms


async def test_a_replayed_proof_is_refused(verifier: DpopVerifier, clock: Clock) -> None:
    key = new_key()
    proof = make_proof(key, jti="once", iat=clock.now)
    await verifier.verify(proof, method="GET", url=URL)
    assert await refusal(verifier, proof) == "DPoP proof replayed"
    # A new proof (another iat, so another signature) reusing the jti under the same key.
    again = make_proof(key, jti="once", iat=clock.now - 1)
    assert again != proof
    assert await refusal(verifier, again) == "DPoP proof replayed"


async def test_one_jti_under_two_keys_is_two_proofs(verifier: DpopVerifier) -> None:
    await verifier.verify(make_proof(new_key(), jti="shared"), method="GET", url=URL)
    await verifier.verify(make_proof(new_key(), jti="shared"), method="GET", url=URL)


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"htm": "POST"}, "the DPoP proof's htm is not this request's method"),
        ({"htm": "get"}, "the DPoP proof's htm is not this request's method"),
        (
            {"htu": "https://api.example.com/other"},
            "the DPoP proof's htu is not this request's URL",
        ),
        (
            {"htu": "https://evil.example.com/orders"},
            "the DPoP proof's htu is not this request's URL",
        ),
        (
            {"htu": "http://api.example.com/orders"},
            "the DPoP proof's htu is not this request's URL",
        ),
        (
            {"htu": "https://api.example.com:8443/orders"},
            "the DPoP proof's htu is not this request's URL",
        ),
        ({"htu": "/orders"}, "the DPoP proof's htu is not this request's URL"),
        ({"htu": 42}, "the DPoP proof's htu is not this request's URL"),
        ({"htu": None}, "the DPoP proof's htu is not this request's URL"),
        ({"htm": None}, "the DPoP proof's htm is not this request's method"),
        ({"jti": "x" * 257}, "the DPoP proof needs a jti of 1 to 256 chars"),
        ({"jti": ""}, "the DPoP proof needs a jti of 1 to 256 chars"),
        ({"jti": 7}, "the DPoP proof needs a jti of 1 to 256 chars"),
        ({"iat": "now"}, "the DPoP proof has no iat"),
        ({"iat": True}, "the DPoP proof has no iat"),
    ],
)
async def test_claims_that_do_not_match_the_request_are_refused(
    verifier: DpopVerifier, change: dict[str, Any], description: str
) -> None:
    proof = make_proof(new_key(), **change)
    assert await refusal(verifier, proof) == description


async def test_a_jwk_that_is_not_an_object_is_refused(verifier: DpopVerifier) -> None:
    head = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": "a key"}
    payload = {"jti": "j", "htm": "GET", "htu": URL, "iat": int(time.time())}
    assert await refusal(verifier, unsigned(head, payload, b"x" * 64)) == (
        "the DPoP proof has no jwk header"
    )


async def test_a_proof_without_jti_is_refused(verifier: DpopVerifier) -> None:
    key = new_key()
    head, body = (
        {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.as_dict(private=False)},
        {"htm": "GET", "htu": URL, "iat": int(time.time())},
    )
    proof = jws.serialize_compact(head, json.dumps(body).encode(), key, algorithms=["EdDSA"])
    assert await refusal(verifier, proof) == "the DPoP proof needs a jti of 1 to 256 chars"


@pytest.mark.parametrize(
    "htu",
    [
        URL,
        URL + "?page=2",
        URL + "#frag",
        "HTTPS://API.Example.COM/orders",
        "https://api.example.com:443/orders",
        "https://api.example.com/%6Frders",
    ],
)
async def test_query_fragment_case_and_default_port_are_ignored(
    verifier: DpopVerifier, htu: str
) -> None:
    await verifier.verify(make_proof(new_key(), htu=htu), method="GET", url=URL + "?q=1")


def test_htu_normalisation() -> None:
    assert normalise_htu("http://Host:80") == "http://host/"
    assert normalise_htu("http://[::1]:8000/a%2fb") == "http://[::1]:8000/a%2Fb"
    assert normalise_htu("https://user@host/") is None
    assert normalise_htu("ftp://host/") is None
    assert normalise_htu("https://host:99999/") is None
    assert normalise_htu("not a url") is None


@pytest.mark.parametrize(
    ("age", "description"),
    [(61, "the DPoP proof is too old"), (-6, "the DPoP proof's iat is in the future")],
)
async def test_iat_outside_the_window_is_refused(
    verifier: DpopVerifier, clock: Clock, age: int, description: str
) -> None:
    proof = make_proof(new_key(), iat=int(clock.now) - age)
    assert await refusal(verifier, proof) == description


@pytest.mark.parametrize("age", [60, -5, 0])
async def test_iat_inside_the_window_is_accepted(
    verifier: DpopVerifier, clock: Clock, age: int
) -> None:
    await verifier.verify(make_proof(new_key(), iat=int(clock.now) - age), method="GET", url=URL)


@pytest.mark.parametrize(
    ("nbf", "description"),
    [
        (lambda now: now + 6, "the DPoP proof is not valid yet (nbf)"),
        (lambda now: now + 3600, "the DPoP proof is not valid yet (nbf)"),
        (lambda now: str(now), "the DPoP proof's nbf is not a number"),
        (lambda now: True, "the DPoP proof's nbf is not a number"),
    ],
    ids=["just past the skew", "an hour ahead", "a string", "a boolean"],
)
async def test_an_nbf_ahead_of_the_skew_or_not_a_number_is_refused(
    verifier: DpopVerifier, clock: Clock, nbf: Any, description: str
) -> None:
    proof = make_proof(new_key(), iat=int(clock.now), nbf=nbf(int(clock.now)))
    assert await refusal(verifier, proof) == description


@pytest.mark.parametrize("ahead", [5, 0, -60])
async def test_an_nbf_within_the_skew_is_accepted(
    verifier: DpopVerifier, clock: Clock, ahead: int
) -> None:
    proof = make_proof(new_key(), iat=int(clock.now), nbf=int(clock.now) + ahead)
    await verifier.verify(proof, method="GET", url=URL)


@pytest.mark.parametrize("respell", RESPELLINGS.values(), ids=RESPELLINGS.keys())
@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
async def test_another_spelling_of_a_valid_proof_is_refused(
    verifier: DpopVerifier, alg: str, respell: Any
) -> None:
    key = new_key(alg)
    proof = with_dash_or_underscore(lambda _: make_proof(key))
    assert await refusal(verifier, respell(proof)) == "the DPoP proof is malformed"
    await verifier.verify(proof, method="GET", url=URL)  # the proof as its client wrote it


async def test_alg_none_is_refused(verifier: DpopVerifier) -> None:
    key = new_key()
    head = {"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}
    payload = {"jti": "j", "htm": "GET", "htu": URL, "iat": int(time.time())}
    assert await refusal(verifier, unsigned(head, payload)) == (
        "the DPoP proof's alg must be one of ES256, ES384, Ed25519, EdDSA, PS256, RS256"
    )


async def test_hs256_signed_with_the_public_key_is_refused(verifier: DpopVerifier) -> None:
    key = new_key()
    public = key.as_dict(private=False)
    head = {"typ": "dpop+jwt", "alg": "HS256", "jwk": public}
    payload = {"jti": "j", "htm": "GET", "htu": URL, "iat": int(time.time())}
    signing_input = unsigned(head, payload).rsplit(".", 1)[0]
    mac = hmac.new(base64.urlsafe_b64decode(public["x"] + "="), signing_input.encode(), "sha256")
    forged = f"{signing_input}.{b64(mac.digest())}"
    assert "alg must be one of" in await refusal(verifier, forged)
    oct_head = {**head, "jwk": {"kty": "oct", "k": public["x"]}}
    assert "alg must be one of" in await refusal(verifier, unsigned(oct_head, payload, b"x"))


@pytest.mark.parametrize(
    ("header", "description"),
    [
        ({"jwk": None}, "the DPoP proof has no jwk header"),
        ({"typ": "JWT"}, "the DPoP proof's typ must be dpop+jwt"),
        ({"typ": None}, "the DPoP proof's typ must be dpop+jwt"),
        ({"typ": "at+jwt"}, "the DPoP proof's typ must be dpop+jwt"),
        ({"crit": ["exp"], "exp": 1}, "the DPoP proof uses critical header extensions"),
    ],
)
async def test_bad_headers_are_refused(
    verifier: DpopVerifier, header: dict[str, Any], description: str
) -> None:
    key = new_key()
    if "crit" in header:
        head = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.as_dict(private=False), **header}
        payload = {"jti": "j", "htm": "GET", "htu": URL, "iat": int(time.time())}
        proof = unsigned(head, payload, b"x" * 64)
    else:
        proof = make_proof(key, header=header)
    assert await refusal(verifier, proof) == description


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
async def test_a_private_key_in_the_jwk_is_refused(verifier: DpopVerifier, alg: str) -> None:
    key = new_key(alg)
    proof = make_proof(key, alg=alg, header={"jwk": key.as_dict(private=True)})
    assert await refusal(verifier, proof) == "the DPoP proof's jwk contains a private key"


@pytest.mark.parametrize(
    ("alg", "jwk"),
    [
        ("ES256", lambda: OKPKey.generate_key("Ed25519").as_dict(private=False)),
        ("EdDSA", lambda: ECKey.generate_key("P-256").as_dict(private=False)),
        ("ES384", lambda: ECKey.generate_key("P-256").as_dict(private=False)),
        ("RS256", lambda: small_rsa_jwk()),
        ("EdDSA", lambda: {"kty": "OKP", "crv": "Ed25519", "x": "tooshort"}),
        ("ES256", lambda: {"kty": "EC", "crv": "P-256", "x": "AAAA"}),
        (
            "EdDSA",
            lambda: {**OKPKey.generate_key("Ed25519").as_dict(private=False), "alg": "ES256"},
        ),
    ],
)
async def test_a_jwk_that_cannot_verify_alg_is_refused(
    verifier: DpopVerifier, alg: str, jwk: Any
) -> None:
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": jwk()}
    payload = {"jti": "j", "htm": "GET", "htu": URL, "iat": int(time.time())}
    description = await refusal(verifier, unsigned(head, payload, b"x" * 64))
    assert description == f"the DPoP proof's jwk is not a usable {alg} public key"


@pytest.mark.parametrize("alg", ["ES512", "RS512", "PS384"])
async def test_algorithms_outside_the_allow_list_are_refused(
    verifier: DpopVerifier, alg: str
) -> None:
    key = ECKey.generate_key("P-521") if alg == "ES512" else RSAKey.generate_key(2048)
    assert "alg must be one of" in await refusal(verifier, make_proof(key, alg=alg))


async def test_a_bad_signature_is_refused(verifier: DpopVerifier) -> None:
    key = new_key()
    head, payload, _ = make_proof(key).split(".")
    other = make_proof(new_key()).split(".")[2]
    assert await refusal(verifier, f"{head}.{payload}.{other}") == (
        "the DPoP proof's signature is not valid"
    )
    # The signature of another payload under the same key and header.
    _, _, sig = make_proof(key, htm="POST").split(".")
    assert await refusal(verifier, f"{head}.{payload}.{sig}") == (
        "the DPoP proof's signature is not valid"
    )


async def test_a_key_swapped_into_a_signed_header_is_refused(verifier: DpopVerifier) -> None:
    attacker, victim = new_key(), new_key()
    proof = make_proof(attacker)
    _, payload, sig = proof.split(".")
    head = b64(
        json.dumps(
            {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": victim.as_dict(private=False)}
        ).encode()
    )
    assert await refusal(verifier, f"{head}.{payload}.{sig}") == (
        "the DPoP proof's signature is not valid"
    )


@pytest.mark.parametrize(
    ("proof", "description"),
    [
        (None, "the request has no DPoP proof"),
        ("", "the request has no DPoP proof"),
        ("abc", "the DPoP proof is not a signed JWT"),
        ("a.b.c.d", "the DPoP proof is not a signed JWT"),
        ("!!!.e30.", "the DPoP proof is malformed"),
        (b64(b"[1]") + ".e30.", "the DPoP proof's header is not a JSON object"),
        ("x" * 9000, "the DPoP proof is too large"),
    ],
)
async def test_malformed_proofs_are_refused(
    verifier: DpopVerifier, proof: str | None, description: str
) -> None:
    assert await refusal(verifier, proof) == description


async def test_a_non_object_payload_is_refused(verifier: DpopVerifier) -> None:
    key = new_key()
    head = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.as_dict(private=False)}
    proof = jws.serialize_compact(head, b"[1, 2]", key, algorithms=["EdDSA"])
    assert await refusal(verifier, proof) == "the DPoP proof's payload is not a JSON object"


def test_exactly_one_dpop_header() -> None:
    assert single_dpop_header([]) is None
    assert single_dpop_header(["a.b.c"]) == "a.b.c"
    for values in (["a.b.c", "d.e.f"], ["a.b.c, d.e.f"]):
        with pytest.raises(InvalidDpopProof, match="more than one DPoP header"):
            single_dpop_header(values)


async def test_ath_must_match_the_access_token(verifier: DpopVerifier) -> None:
    key = new_key()
    token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"
    ok = make_proof(key, access_token=token)
    checked = await verifier.verify(ok, method="GET", url=URL, access_token=token)
    assert checked.jkt == key.thumbprint()
    missing = make_proof(key)
    assert await refusal(verifier, missing, access_token=token) == (
        "the DPoP proof has no ath for the access token"
    )
    wrong = make_proof(key, access_token=token + "x")
    assert await refusal(verifier, wrong, access_token=token) == (
        "the DPoP proof's ath does not match the access token"
    )
    not_a_string = make_proof(key, ath=5)
    assert await refusal(verifier, not_a_string, access_token=token) == (
        "the DPoP proof has no ath for the access token"
    )


async def test_the_key_must_be_the_bound_one(verifier: DpopVerifier) -> None:
    bound, other = new_key(), new_key()
    ok = make_proof(bound)
    await verifier.verify(ok, method="GET", url=URL, expected_jkt=bound.thumbprint())
    assert await refusal(verifier, make_proof(other), expected_jkt=bound.thumbprint()) == (
        "the DPoP proof's key is not the one the token is bound to"
    )


async def test_a_refused_proof_is_not_remembered(verifier: DpopVerifier) -> None:
    key = new_key()
    proof = make_proof(key)
    await refusal(verifier, proof, method="POST")
    await verifier.verify(proof, method="GET", url=URL)


async def test_nonce_required_then_accepted(verifier: DpopVerifier) -> None:
    key = new_key()
    with pytest.raises(UseDpopNonce) as err:
        await verifier.verify(make_proof(key), method="GET", url=URL, require_nonce=True)
    assert err.value.code == "use_dpop_nonce"
    nonce = err.value.nonce
    assert nonce == verifier.nonce()
    await verifier.verify(make_proof(key, nonce=nonce), method="GET", url=URL, require_nonce=True)


async def test_the_setting_decides_when_the_caller_does_not(
    store: DpopJtiStore, nonce_key: bytes
) -> None:
    strict = DpopVerifier(store, DpopNonces([nonce_key]), require_nonce=True)
    with pytest.raises(UseDpopNonce):
        await strict.verify(make_proof(new_key()), method="GET", url=URL)
    await strict.verify(make_proof(new_key()), method="GET", url=URL, require_nonce=False)


async def test_stale_forged_and_foreign_nonces_are_refused(
    verifier: DpopVerifier, clock: Clock
) -> None:
    key = new_key()
    nonce = verifier.nonce()
    clock.now += 300  # the next window: still good
    await verifier.verify(make_proof(key, nonce=nonce, iat=clock.now), method="GET", url=URL)
    clock.now += 300  # two windows on: stale
    for bad in (
        nonce,
        DpopNonces([secrets.token_bytes(32)], clock=clock).current(),  # another instance's
        nonce[:-2] + ("AA" if not nonce.endswith("AA") else "BB"),
        "not-a-nonce",
        "",
    ):
        with pytest.raises(UseDpopNonce) as err:
            await verifier.verify(make_proof(key, nonce=bad, iat=clock.now), method="GET", url=URL)
        assert err.value.description == "the DPoP proof's nonce is stale or unknown"
        assert verifier.nonce() == err.value.nonce != nonce


def test_nonces_made_under_a_previous_instance_key_still_verify(nonce_key: bytes) -> None:
    old = DpopNonces([nonce_key]).current()
    rotated = DpopNonces([secrets.token_bytes(32), nonce_key])
    assert rotated.is_valid(old)
    assert rotated.current() != old
    assert not DpopNonces([secrets.token_bytes(32)]).is_valid(old)


async def test_proof_expiry_frees_its_row(store: DpopJtiStore) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert await store.remember(digest, int(time.time()) - 1)
    # Its proof could no longer be accepted: the row is taken over, not a replay.
    assert await store.remember(digest, int(time.time()) + 60)
    assert not await store.remember(digest, int(time.time()) + 60)
