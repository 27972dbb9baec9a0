"""M2M tokens: verification of a hot (cached) token at a known machine, and refusal of a mistyped
token and of a token at a machine outside its audience.

Run with ``make bench``. Each drives the coroutine by hand with ``complete`` from the token
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

#: runtime, token, the audience machine's secret key, another machine's secret key
Setup = tuple[Authward, str, str, str]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    loop = asyncio.new_event_loop()
    aw = loop.run_until_complete(open_example("EdDSA", tmp_path_factory.mktemp("m2m")))
    billing, _ = loop.run_until_complete(aw.machines.create("billing"))
    search, _ = loop.run_until_complete(aw.machines.create("search"))
    token, _ = loop.run_until_complete(
        aw.m2m_tokens.create("admin-machine-user", ["billing"], ["invoices:read"])
    )
    loop.run_until_complete(aw.m2m_tokens.verify(token, billing))  # warm the caches
    with pytest.raises(TokenError):
        loop.run_until_complete(aw.m2m_tokens.verify(token, search))  # knows `search` too
    yield aw, token, billing, search
    loop.run_until_complete(aw.close())
    loop.close()


def _refuse(aw: Authward, token: str, machine_secret_key: str) -> str:
    try:
        complete(aw.m2m_tokens.verify(token, machine_secret_key))
    except TokenError as exc:
        return exc.reason
    raise AssertionError("the token was accepted")


def test_verify_m2m_token_cached(benchmark: Any, setup: Setup) -> None:
    aw, token, billing, _ = setup
    benchmark.group = "verify m2m_token"
    auth = benchmark(lambda: complete(aw.m2m_tokens.verify(token, billing)))
    assert auth.machine_user == "admin-machine-user"


def test_verify_m2m_token_cached_to_principal(benchmark: Any, setup: Setup) -> None:
    aw, token, billing, _ = setup
    benchmark.group = "verify m2m_token"
    principal = benchmark(lambda: complete(aw.m2m_tokens.verify(token, billing)).to_principal())
    assert principal.attributes["role"] == "ADMIN"
    assert principal.attributes["scopes"] == ("invoices:read",)


def test_refuse_m2m_token_with_bad_checksum(benchmark: Any, setup: Setup) -> None:
    aw, token, billing, _ = setup
    typo = token[:-1] + ("0" if token[-1] != "0" else "1")
    benchmark.group = "verify m2m_token"
    assert benchmark(_refuse, aw, typo, billing) == "m2m-malformed"


def test_refuse_m2m_token_at_the_wrong_machine(benchmark: Any, setup: Setup) -> None:
    aw, token, _, search = setup
    benchmark.group = "verify m2m_token"
    assert benchmark(_refuse, aw, token, search) == "m2m-wrong-machine"
