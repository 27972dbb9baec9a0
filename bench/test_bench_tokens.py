"""Machine-user tokens: issue and verify, beside the raw signature check of the same algorithm.

Run with ``make bench``. The verify benchmarks drive the coroutine by hand (it completes without
awaiting once the key view is warm), so the figure is the in-process cost, not event-loop
overhead. Target (issue 2): verify <= 1.5 x raw signature verification.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from starlette.requests import HTTPConnection

from authward.config import load_app
from authward.runtime import Authward
from authward.settings import SigningAlg, load_settings
from authward.tokens.access_token import sign_access_token
from authward.tokens.jwt import sign_jwt

T = TypeVar("T")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "app.py"


def complete(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that must not suspend; fail loudly if it does (it would be doing I/O)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the hot path suspended: it is doing I/O")


async def open_example(alg: SigningAlg, tmp: Path, *, cache_size: int = 10_000) -> Authward:
    """The example app on a scratch SQLite store, its key view never going stale mid-run.

    ``cache_size=0`` turns the verified-token cache off, so every verification is done in full;
    opened on the ``tmp`` of an open instance it is a second instance of the same store."""
    config, _ = load_app(EXAMPLE)
    settings = load_settings(
        verified_token_cache_size=cache_size,
        database_url=f"sqlite+aiosqlite:///{tmp / 'authward.db'}",
        key_file=tmp / "authward.key",
        signing_alg=alg,
        cache_refresh_seconds=300,
    )
    return await Authward.open(config, settings)


def b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@pytest.fixture(params=["EdDSA", "ES256"], scope="module")
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Authward, str, asyncio.AbstractEventLoop]]:
    alg: SigningAlg = request.param
    loop = asyncio.new_event_loop()
    aw = loop.run_until_complete(open_example(alg, tmp_path_factory.mktemp(alg)))
    token = loop.run_until_complete(aw.machine_user_token("admin-machine-user"))
    loop.run_until_complete(aw.verify_access_token(token))  # warm the key view
    yield aw, token, loop
    loop.run_until_complete(aw.close())
    loop.close()


def test_raw_signature_verify(benchmark: Any, setup: tuple[Authward, str, Any]) -> None:
    aw, token, loop = setup
    key = loop.run_until_complete(aw.signing_keys.signer())
    head, payload, sig = token.split(".")
    message = f"{head}.{payload}".encode()
    signature = b64d(sig)
    public = key.key.get_op_key("verify")
    if key.alg == "ES256":
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        der = encode_dss_signature(r, s)
        benchmark.group = "verify ES256"
        benchmark(
            public.verify,
            der,
            message,
            ec.ECDSA(__import__("cryptography").hazmat.primitives.hashes.SHA256()),
        )
    else:
        benchmark.group = "verify EdDSA"
        benchmark(public.verify, signature, message)


def test_verify_access_token(benchmark: Any, setup: tuple[Authward, str, Any]) -> None:
    """A full verification every time: an instance with the verified-token cache off."""
    aw, token, loop = setup
    tmp = Path(str(aw.settings.key_file)).parent
    full = loop.run_until_complete(open_example(aw.settings.signing_alg, tmp, cache_size=0))
    loop.run_until_complete(full.verify_access_token(token))  # warm the key view
    benchmark.group = f"verify {aw.settings.signing_alg}"
    principal = benchmark(lambda: complete(full.verify_access_token(token)))
    loop.run_until_complete(full.close())
    assert principal.attributes["role"] == "ADMIN"


def test_verify_access_token_cached(benchmark: Any, setup: tuple[Authward, str, Any]) -> None:
    aw, token, _ = setup
    benchmark.group = f"verify {aw.settings.signing_alg}"
    principal = benchmark(lambda: complete(aw.verify_access_token(token)))
    assert principal.attributes["role"] == "ADMIN"


#: Rounds of the benchmarks that give each verification a token or header never hashed before.
ROUNDS = 20_000


def test_verify_access_token_cached_new_string(
    benchmark: Any, setup: tuple[Authward, str, Any]
) -> None:
    """As requests see it: the same token, in a string of its own each time (a string keeps its
    hash, so the benchmark above never pays for hashing the token)."""
    aw, token, _ = setup
    benchmark.group = f"verify {aw.settings.signing_alg}"
    principal = benchmark.pedantic(
        lambda t: complete(aw.verify_access_token(t)),
        setup=lambda: ((token.encode().decode(),), {}),
        rounds=ROUNDS,
        warmup_rounds=100,
    )
    assert principal.attributes["role"] == "ADMIN"


def test_channel_entry_cached(benchmark: Any, setup: tuple[Authward, str, Any]) -> None:
    """The middleware's hot path (decision 028): a request whose ``Authorization: Bearer``
    header carries a token the entry accepted before, its header bytes new each time."""
    aw, token, loop = setup
    entry = aw.tokens_entry()
    raw = token.encode()

    def request() -> tuple[tuple[HTTPConnection], dict[str, Any]]:
        return (
            HTTPConnection({"type": "http", "headers": [(b"authorization", b"Bearer " + raw)]}),
        ), {}

    loop.run_until_complete(entry(request()[0][0]))  # accepted once, so remembered
    benchmark.group = f"verify {aw.settings.signing_alg}"
    principal = benchmark.pedantic(
        lambda r: complete(entry(r)), setup=request, rounds=ROUNDS, warmup_rounds=100
    )
    assert principal is not None
    assert principal.attributes["clientId"]


def test_sign_access_token(benchmark: Any, setup: tuple[Authward, str, Any]) -> None:
    aw, _, loop = setup
    key = loop.run_until_complete(aw.signing_keys.signer())
    claims = {
        "iss": aw.issuer,
        "sub": "x",
        "aud": aw.issuer,
        "exp": 2,
        "iat": 1,
        "jti": "j",
        "client_id": "c",
        "attribute_map": {"role": "ADMIN"},
        "attributes": [],
    }
    benchmark.group = f"issue {aw.settings.signing_alg}"
    benchmark(sign_access_token, key, claims)


def test_issue_machine_user_token_with_store_lookup(
    benchmark: Any, setup: tuple[Authward, str, Any]
) -> None:
    aw, _, loop = setup
    benchmark.group = f"issue {aw.settings.signing_alg}"
    token = benchmark(lambda: loop.run_until_complete(aw.machine_user_token("admin-machine-user")))
    assert token.count(".") == 2


def test_sign_rs256_id_token(benchmark: Any, setup: tuple[Authward, str, Any]) -> None:
    """What an RS256 ID token costs to sign (the default for clients, decision 034); access
    tokens never pay it."""
    aw, _, loop = setup
    key = loop.run_until_complete(aw._id_token_key("RS256"))
    claims = {
        "iss": aw.issuer,
        "sub": "x",
        "aud": "c",
        "azp": "c",
        "exp": 2,
        "iat": 1,
        "auth_time": 1,
        "nonce": "n",
        "at_hash": "h" * 22,
    }
    benchmark.group = "issue RS256 ID token"
    token = benchmark(sign_jwt, key, claims, typ="JWT")
    assert token.count(".") == 2
