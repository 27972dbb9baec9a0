"""DPoP proof verification, beside the raw signature check of the same proof.

Run with ``make bench``. Every proof is distinct (a replayed one is refused), so each benchmark
round takes the next of a batch signed beforehand, outside the timing (pytest-benchmark's
``pedantic`` setup). Three figures per algorithm:

- raw: ``cryptography``'s verify of a proof's signature over its signing input;
- checks only: ``DpopVerifier.verify`` with a replay store that says "fresh" without I/O, driven
  by hand with ``complete`` (fails if anything suspends): header (cached per key), signature,
  claims, ``ath`` and ``cnf.jkt``;
- checks only through the event loop: the same with ``loop.run_until_complete`` per call;
- SQLite: the same through the event loop with the real replay store (one INSERT per proof in a
  transaction of its own), what a resource pays on every DPoP request.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey

from authward.oauth.dpop import DpopNonces, DpopVerifier, access_token_hash
from authward.runtime import Authward
from bench.test_bench_tokens import b64d, complete, open_example

URL = "https://api.example.com/orders"
TOKEN = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl"
ROUNDS = 2000


class FreshStore:
    """Every proof is new: isolates the checks from the store round trip."""

    async def remember(self, key: str, expires_at: int) -> bool:
        return True


def sign_proofs(key: OKPKey | ECKey, alg: str, count: int) -> list[str]:
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    now = int(time.time())
    return [
        jws.serialize_compact(
            header,
            json.dumps(
                {
                    "jti": secrets.token_urlsafe(16),
                    "htm": "GET",
                    "htu": URL,
                    "iat": now,
                    "ath": access_token_hash(TOKEN),
                }
            ).encode(),
            key,
            algorithms=[alg],
        )
        for _ in range(count)
    ]


@pytest.fixture(params=["EdDSA", "ES256"], scope="module")
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, OKPKey | ECKey, Authward, asyncio.AbstractEventLoop]]:
    alg: str = request.param
    key = OKPKey.generate_key("Ed25519") if alg == "EdDSA" else ECKey.generate_key("P-256")
    loop = asyncio.new_event_loop()
    aw = loop.run_until_complete(open_example("EdDSA", tmp_path_factory.mktemp(f"dpop-{alg}")))
    yield alg, key, aw, loop
    loop.run_until_complete(aw.close())
    loop.close()


def rounds_over(proofs: list[str]) -> Callable[[], tuple[tuple[str], dict[str, Any]]]:
    it = iter(proofs)
    return lambda: ((next(it),), {})


def test_raw_signature_verify(benchmark: Any, setup: tuple[str, Any, Authward, Any]) -> None:
    alg, key, _, _ = setup
    head, payload, sig = sign_proofs(key, alg, 1)[0].split(".")
    message, signature = f"{head}.{payload}".encode(), b64d(sig)
    public = key.get_op_key("verify")
    benchmark.group = f"dpop {alg}"
    if alg == "ES256":
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        benchmark(public.verify, der, message, ec.ECDSA(hashes.SHA256()))
    else:
        benchmark(public.verify, signature, message)


def test_verify_checks_only(benchmark: Any, setup: tuple[str, Any, Authward, Any]) -> None:
    alg, key, _, _ = setup
    verifier = DpopVerifier(FreshStore(), DpopNonces([secrets.token_bytes(32)]))
    jkt = key.thumbprint()
    proofs = sign_proofs(key, alg, ROUNDS + 1)

    def verify(proof: str) -> Any:
        return complete(
            verifier.verify(proof, method="GET", url=URL, access_token=TOKEN, expected_jkt=jkt)
        )

    verify(proofs.pop())  # parse the key once, as for any client's second proof
    benchmark.group = f"dpop {alg}"
    checked = benchmark.pedantic(verify, setup=rounds_over(proofs), rounds=ROUNDS)
    assert checked.jkt == jkt


def test_verify_checks_only_through_the_event_loop(
    benchmark: Any, setup: tuple[str, Any, Authward, Any]
) -> None:
    """The event loop's share of the SQLite figure, without the store."""
    alg, key, _, loop = setup
    verifier = DpopVerifier(FreshStore(), DpopNonces([secrets.token_bytes(32)]))
    proofs = sign_proofs(key, alg, ROUNDS + 1)

    def verify(proof: str) -> Any:
        return loop.run_until_complete(
            verifier.verify(proof, method="GET", url=URL, access_token=TOKEN)
        )

    verify(proofs.pop())
    benchmark.group = f"dpop {alg}"
    benchmark.pedantic(verify, setup=rounds_over(proofs), rounds=ROUNDS)


def test_verify_with_sqlite_replay_store(
    benchmark: Any, setup: tuple[str, Any, Authward, Any]
) -> None:
    alg, key, aw, loop = setup
    jkt = key.thumbprint()
    proofs = sign_proofs(key, alg, ROUNDS + 1)

    def verify(proof: str) -> Any:
        return loop.run_until_complete(
            aw.dpop.verify(proof, method="GET", url=URL, access_token=TOKEN, expected_jkt=jkt)
        )

    verify(proofs.pop())
    benchmark.group = f"dpop {alg}"
    checked = benchmark.pedantic(verify, setup=rounds_over(proofs), rounds=ROUNDS)
    assert checked.jkt == jkt
