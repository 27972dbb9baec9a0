"""Shared fixtures: databases (SQLite and a fresh PostgreSQL database per test), apps, runtimes.

PostgreSQL tests skip with a one-line reason when no server answers, unless
AUTHWARD_REQUIRE_SERVICES=1 (as in CI), where they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from authward.config import Config, load_app
from authward.runtime import Authward
from authward.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_APP = ROOT / "examples" / "app.py"
PG_ADMIN_URL = os.environ.get(
    "AUTHWARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("AUTHWARD_REQUIRE_SERVICES") == "1"
SettingsFactory = Callable[..., Settings]
# Fails the run if a secret made during it shows up in any log (issue 3, "Bad input").
pytest_plugins = ["tests.secret_scan"]


async def _pg_problem() -> str | None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
    await conn.close()
    return None


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a brand-new PostgreSQL database, dropped on exit; skips (or fails, with
    AUTHWARD_REQUIRE_SERVICES=1) when no server answers."""
    problem = asyncio.run(_pg_problem())
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(problem + " (AUTHWARD_REQUIRE_SERVICES=1)")
        pytest.skip(problem)
    name = f"aw_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    yield f"{base}/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    url = request.getfixturevalue("postgres_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
def settings_for(tmp_path: Path) -> SettingsFactory:
    def make(database_url: str, **overrides: object) -> Settings:
        return load_settings(
            database_url=database_url, key_file=tmp_path / "authward.key", **overrides
        )

    return make


@pytest.fixture
def example_config() -> Config:
    config, _ = load_app(EXAMPLE_APP)
    return config


@pytest.fixture
async def runtime(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    aw = await Authward.open(example_config, settings_for(database_url), migrate=True)
    yield aw
    await aw.close()


@pytest.fixture
async def sqlite_runtime(
    tmp_path: Path, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    """For token logic that does not depend on the database engine."""
    aw = await Authward.open(
        example_config, settings_for(f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}")
    )
    yield aw
    await aw.close()
