"""Session tokens: verification on first sight and from the verified-token cache, beside the raw
signature check of the same algorithm.

Run with ``make bench``. Every verification drives the coroutine by hand with ``complete`` from
the token benchmarks, which fails if the coroutine suspends, i.e. if the path did any I/O.
Targets (issue 4): a first-sight verification (signature and claims checked) <= 1.5 x the raw
signature verification; a cached one >= 50,000 per second per core (<= 20 µs).

``Sessions.verify_token`` keeps two in-memory views, both warmed before anything is timed:

- the session's state (user, expiry, revoked?), read from the store the first time one of the
  session's tokens is seen: that first verification of an unknown session legitimately awaits a
  query, so each fixture verifies one token per session through the event loop first;
- the verified-token cache (``AUTHWARD_VERIFIED_TOKEN_CACHE_SIZE``, 10,000 by default): a token
  verified once is not checked again until it expires. "First sight" therefore verifies a
  different, never-seen token every round; "cache off" runs an instance with the cache sized 0.

Distinct tokens: ``mint_token`` costs a store transaction per token (milliseconds), and Ed25519 is
deterministic, so one session's tokens minted within the same second are byte-identical. Each
session mints one real token; the distinct ones are its claims re-signed with
``sign_session_token`` (what ``mint`` calls) with ``iat`` set k seconds earlier, i.e. exactly the
token ``mint`` would have produced k seconds ago. ``exp`` is kept, so they are valid as long as
the minted one (60 s): tokens are made right before each benchmark, not in the fixture.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from starlette.requests import HTTPConnection

from authward.runtime import Authward
from authward.settings import SigningAlg
from authward.tokens.keys import SigningKey
from authward.tokens.session_token import sign_session_token
from bench.test_bench_tokens import b64d, complete, open_example

#: Sessions per fixture: the first-sight benchmarks cycle through them.
SESSIONS = 100
#: First-sight rounds (one verification each); with the warm-up, well under the cache size, so
#: the tokens of the cached benchmarks are never evicted.
ROUNDS = 2000


@dataclass
class Setup:
    aw: Authward
    #: The same store, opened with AUTHWARD_VERIFIED_TOKEN_CACHE_SIZE=0.
    uncached: Authward
    loop: asyncio.AbstractEventLoop
    secrets: list[str]
    key: SigningKey
    #: Seconds ``iat`` is already moved back by earlier ``distinct_tokens`` calls.
    shifted: int = 0


async def open_example_uncached(alg: SigningAlg, tmp: Path) -> Authward:
    return await open_example(alg, tmp, cache_size=0)


@pytest.fixture(params=["EdDSA", "ES256"], scope="module")
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    alg: SigningAlg = request.param
    tmp = tmp_path_factory.mktemp(f"sessions-{alg}")
    loop = asyncio.new_event_loop()
    aw = loop.run_until_complete(open_example(alg, tmp))
    uncached = loop.run_until_complete(open_example_uncached(alg, tmp))
    secrets = [
        loop.run_until_complete(aw.sessions.create(f"user-{i}", claims={"name": f"User {i}"}))[0]
        for i in range(SESSIONS)
    ]
    # Warm-up, with I/O on purpose: the first verification of a session reads its state from the
    # store (and the first of all loads the published keys). Both instances, every session.
    for secret in secrets:
        token = loop.run_until_complete(aw.sessions.mint_token(secret))
        loop.run_until_complete(aw.sessions.verify_token(token))
        loop.run_until_complete(uncached.sessions.verify_token(token))
    key = loop.run_until_complete(aw.signing_keys.signer())
    yield Setup(aw, uncached, loop, secrets, key)
    loop.run_until_complete(uncached.close())
    loop.run_until_complete(aw.close())
    loop.close()


def mint(setup: Setup, i: int = 0) -> str:
    return setup.loop.run_until_complete(setup.aw.sessions.mint_token(setup.secrets[i]))


def distinct_tokens(setup: Setup, count: int) -> list[str]:
    """``count`` never-seen tokens of warm sessions (see the module docstring)."""
    minted = []
    for secret in setup.secrets:
        token = setup.loop.run_until_complete(setup.aw.sessions.mint_token(secret))
        minted.append(json.loads(b64d(token.split(".")[1])))
    tokens = []
    for n in range(count):
        claims = dict(minted[n % len(minted)])
        # Never an iat an earlier call used: two calls within one second make other tokens.
        claims["iat"] -= 1 + setup.shifted + n // len(minted)
        tokens.append(sign_session_token(setup.key, claims))
    setup.shifted += 1 + count // len(minted)
    assert len(set(tokens)) == count
    return tokens


def first_sight(benchmark: Any, setup: Setup, verify: Any) -> Any:
    """Time ``verify(token)`` once per round, on a different never-seen token each round."""
    tokens = iter(distinct_tokens(setup, ROUNDS + 100))
    return benchmark.pedantic(
        lambda token: complete(verify(token)),
        setup=lambda: ((next(tokens),), {}),
        rounds=ROUNDS,
        warmup_rounds=100,
    )


def test_raw_signature_verify(benchmark: Any, setup: Setup) -> None:
    token = mint(setup)
    head, payload, sig = token.split(".")
    message = f"{head}.{payload}".encode()
    signature = b64d(sig)
    public = setup.key.key.get_op_key("verify")
    benchmark.group = f"verify session_token {setup.key.alg}"
    if setup.key.alg == "ES256":
        size = len(signature) // 2
        der = encode_dss_signature(
            int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        )
        benchmark(public.verify, der, message, ec.ECDSA(hashes.SHA256()))
    else:
        benchmark(public.verify, signature, message)


def test_verify_session_token_first_sight(benchmark: Any, setup: Setup) -> None:
    benchmark.group = f"verify session_token {setup.key.alg}"
    auth = first_sight(benchmark, setup, setup.aw.sessions.verify_token)
    assert auth.user_id.startswith("user-")


def test_verify_session_token_first_sight_to_principal(benchmark: Any, setup: Setup) -> None:
    benchmark.group = f"verify session_token {setup.key.alg}"
    principal = first_sight(benchmark, setup, setup.aw.sessions.verify)
    assert principal.attributes["tokenType"] == "session_token"


def test_verify_session_token_cache_off(benchmark: Any, setup: Setup) -> None:
    # The instance caches no verified token, so the same token is verified in full every time.
    token = mint(setup)
    benchmark.group = f"verify session_token {setup.key.alg}"
    auth = benchmark(lambda: complete(setup.uncached.sessions.verify_token(token)))
    assert auth.session_claims["name"] == "User 0"


def test_verify_session_token_cached(benchmark: Any, setup: Setup) -> None:
    token = mint(setup)
    complete(setup.aw.sessions.verify_token(token))  # now in the verified-token cache
    benchmark.group = f"verify session_token {setup.key.alg}"
    auth = benchmark(lambda: complete(setup.aw.sessions.verify_token(token)))
    assert auth.session_claims["name"] == "User 0"


def test_verify_session_token_cached_new_string(benchmark: Any, setup: Setup) -> None:
    """As requests see it: the same token, in a string of its own each time (a string keeps its
    hash, so the benchmark above never pays for hashing the token)."""
    token = mint(setup)
    complete(setup.aw.sessions.verify_token(token))
    benchmark.group = f"verify session_token {setup.key.alg}"
    auth = benchmark.pedantic(
        lambda t: complete(setup.aw.sessions.verify_token(t)),
        setup=lambda: ((token.encode().decode(),), {}),
        rounds=20_000,
        warmup_rounds=100,
    )
    assert auth.user_id == "user-0"


def test_channel_entry_session_token_cached(benchmark: Any, setup: Setup) -> None:
    """The middleware's path for a session token it has verified before (an entry taking OAuth
    and session tokens), its header bytes new each time."""
    token = mint(setup)
    entry = setup.aw.tokens_entry(accepts_token=["oauth_token", "session_token"])
    raw = token.encode()

    def request() -> tuple[tuple[HTTPConnection], dict[str, Any]]:
        headers = [(b"authorization", b"Bearer " + raw)]
        return (HTTPConnection({"type": "http", "headers": headers}),), {}

    complete(entry(request()[0][0]))
    benchmark.group = f"verify session_token {setup.key.alg}"
    principal = benchmark.pedantic(
        lambda r: complete(entry(r)), setup=request, rounds=20_000, warmup_rounds=100
    )
    assert principal is not None
    assert principal.subject == "user-0"


def test_verify_session_token_cached_to_principal(benchmark: Any, setup: Setup) -> None:
    token = mint(setup)
    complete(setup.aw.sessions.verify(token))
    benchmark.group = f"verify session_token {setup.key.alg}"
    principal = benchmark(lambda: complete(setup.aw.sessions.verify(token)))
    assert principal.attributes["name"] == "User 0"
