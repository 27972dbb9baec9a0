"""API keys: verification of a hot (cached) key, and refusal of a mistyped one.

Run with ``make bench``. Both drive the coroutine by hand with ``complete`` from the token
benchmarks, which fails if the coroutine suspends, i.e. if the hot path did any I/O.
Target (issue 4): at least 50,000 verifications per second per core (<= 20 µs each).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from authward.errors import TokenError
from authward.runtime import Authward
from bench.test_bench_tokens import complete, open_example

Setup = tuple[Authward, str]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    loop = asyncio.new_event_loop()
    aw = loop.run_until_complete(open_example("EdDSA", tmp_path_factory.mktemp("apikeys")))
    org = loop.run_until_complete(aw.organizations.create("org-1", "Org 1"))
    secret, _ = loop.run_until_complete(
        aw.api_keys.create("bench", org_id=org.id, scopes=["repo:read", "deploy"])
    )
    loop.run_until_complete(aw.api_keys.verify(secret))  # warm the cache
    yield aw, secret
    loop.run_until_complete(aw.close())
    loop.close()


def test_verify_api_key_cached(benchmark: Any, setup: Setup) -> None:
    aw, secret = setup
    benchmark.group = "verify api_key"
    auth = benchmark(lambda: complete(aw.api_keys.verify(secret)))
    assert auth.org_id is not None


def test_verify_api_key_cached_to_principal(benchmark: Any, setup: Setup) -> None:
    aw, secret = setup
    benchmark.group = "verify api_key"
    principal = benchmark(lambda: complete(aw.api_keys.verify(secret)).to_principal())
    assert principal.attributes["scopes"] == ("repo:read", "deploy")


def test_refuse_api_key_with_bad_checksum(benchmark: Any, setup: Setup) -> None:
    aw, secret = setup
    typo = secret[:-1] + ("0" if secret[-1] != "0" else "1")

    def refuse() -> str:
        try:
            complete(aw.api_keys.verify(typo))
        except TokenError as exc:
            return exc.reason
        raise AssertionError("a mistyped key was accepted")

    benchmark.group = "verify api_key"
    assert benchmark(refuse) == "api-key-malformed"
