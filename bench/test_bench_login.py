"""Password sign-in: ``Users.authenticate`` beside the argon2id verification it is built around.

Run with ``make bench``, and for the headline ratio ``.venv/bin/python -m bench.test_bench_login``
(interleaved rounds, like bench/verify_ratio.py, so a slow minute of the VM slows both sides).
Target (issue 3): the sign-in path is at least 90 % hash-bound, i.e. argon2id verify alone
takes >= 90 % of a successful sign-in. Two are timed: ``Users.authenticate`` (the attempt
counted by the throttle, the user's lookup, verify in a worker thread, then the attempt's release
and the ``user.login`` audit row in one transaction) and ``Users.sign_in``, what the login page
does (the same, then the browser session, its ``session.created`` row, the release and the
``user.login`` row in one transaction, committed before it returns).

Both use the real OWASP parameters (m=19456 KiB, t=2, p=1), on the embedded SQLite store and on
PostgreSQL (127.0.0.1:5432, as the tests use) when one answers.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from authward.config import load_app
from authward.runtime import Authward
from authward.settings import load_settings
from authward.users.passwords import owasp_hasher

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "app.py"
PG_ADMIN_URL = os.environ.get(
    "AUTHWARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
USERNAME = "bench@example.com"
PASSWORD = "benchmark password 1"
PROFILE = {"organization_id": uuid.uuid4(), "team_id": uuid.uuid4()}


async def _pg_database() -> str | None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return None
    name = f"aw_bench_{secrets.token_hex(6)}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"


async def _drop(url: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')
    finally:
        await conn.close()


async def open_store(store: str, tmp: Path) -> tuple[Authward, str | None]:
    """The example app with one user, on ``store``; the second value is a database to drop."""
    config, _ = load_app(EXAMPLE)
    dropped = None
    if store == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'authward.db'}"
    else:
        made = await _pg_database()
        if made is None:
            pytest.skip("PostgreSQL not reachable")
        url = dropped = made
    settings = load_settings(database_url=url, key_file=tmp / "authward.key")
    aw = await Authward.open(config, settings, migrate=True)
    await aw.users.create(USERNAME, PASSWORD, profile=PROFILE)
    return aw, dropped


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Authward, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    try:
        aw, dropped = loop.run_until_complete(
            open_store(request.param, tmp_path_factory.mktemp(request.param))
        )
    except BaseException:
        loop.close()
        raise
    yield aw, loop
    loop.run_until_complete(aw.close())
    if dropped is not None:
        loop.run_until_complete(_drop(dropped))
    loop.close()


def test_argon2id_verify_alone(benchmark: Any) -> None:
    hasher = owasp_hasher()
    stored = hasher.hash(PASSWORD)
    assert benchmark(hasher.verify, stored, PASSWORD)


def test_authenticate(benchmark: Any, setup: tuple[Authward, asyncio.AbstractEventLoop]) -> None:
    aw, loop = setup

    def login() -> str:
        return loop.run_until_complete(aw.users.authenticate(USERNAME, PASSWORD, ip="10.0.0.1")).id

    assert benchmark(login)


def test_sign_in(benchmark: Any, setup: tuple[Authward, asyncio.AbstractEventLoop]) -> None:
    aw, loop = setup

    def sign_in() -> str:
        return loop.run_until_complete(aw.users.sign_in(USERNAME, PASSWORD, ip="10.0.0.1")).secret

    assert benchmark(sign_in)


def interleaved(store: str, rounds: int = 15, batch: int = 10) -> None:
    """Each round: ``batch`` bare verifies, ``batch`` verifies in a worker thread (as sign-in
    must run them), ``batch`` ``authenticate`` calls, then ``batch`` ``sign_in`` calls; prints
    medians and, for each of the last two, the median per-round ratio of bare verify to it (for
    ``sign_in`` also in the process's CPU time)."""
    hasher = owasp_hasher()
    stored = hasher.hash(PASSWORD)

    async def threaded() -> None:
        await asyncio.to_thread(hasher.verify, stored, PASSWORD)

    async def login() -> None:
        await aw.users.authenticate(USERNAME, PASSWORD, ip="10.0.0.1")

    async def sign_in() -> None:
        await aw.users.sign_in(USERNAME, PASSWORD, ip="10.0.0.1", user_agent="bench")

    cpu: dict[str, list[float]] = {"bare": [], "sign_in": []}

    def timed(step: Any, name: str = "") -> float:
        start, used = time.perf_counter(), time.process_time()
        for _ in range(batch):
            step()
        if name:
            cpu[name].append((time.process_time() - used) / batch)
        return (time.perf_counter() - start) / batch

    with tempfile.TemporaryDirectory() as tmp:
        loop = asyncio.new_event_loop()
        aw, dropped = loop.run_until_complete(open_store(store, Path(tmp)))
        try:
            bare, thread, full, page = [], [], [], []
            for _ in range(rounds):
                bare.append(timed(lambda: hasher.verify(stored, PASSWORD), "bare"))
                thread.append(timed(lambda: loop.run_until_complete(threaded())))
                full.append(timed(lambda: loop.run_until_complete(login())))
                page.append(timed(lambda: loop.run_until_complete(sign_in()), "sign_in"))
        finally:
            loop.run_until_complete(aw.close())
            if dropped is not None:
                loop.run_until_complete(_drop(dropped))
            loop.close()
    v, t, f, p = (statistics.median(x) for x in (bare, thread, full, page))
    ratio = statistics.median(b / a for b, a in zip(bare, full, strict=True))
    page_ratio = statistics.median(b / a for b, a in zip(bare, page, strict=True))
    # CPU time of the whole process (the worker threads included): what the machine's other
    # work cannot inflate by making this process wait for a core.
    cpu_ratio = statistics.median(b / a for b, a in zip(cpu["bare"], cpu["sign_in"], strict=True))
    print(
        f"{store}: argon2id verify {v * 1e3:.2f} ms ({1 / v:.1f}/s), "
        f"in a worker thread {t * 1e3:.2f} ms, "
        f"authenticate {f * 1e3:.2f} ms ({1 / f:.1f}/s, hash-bound {ratio:.1%}), "
        f"sign_in {p * 1e3:.2f} ms ({1 / p:.1f}/s, hash-bound {page_ratio:.1%}, "
        f"in CPU time {cpu_ratio:.1%}) (medians of {rounds} rounds)"
    )


if __name__ == "__main__":
    for name in ("sqlite", "postgresql"):
        interleaved(name)
