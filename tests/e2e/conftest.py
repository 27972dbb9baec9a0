"""What most end-to-end modules start from: the example app in a folder of its own, and an
environment with none of the caller's AUTHWARD_* settings. A module that needs another app or
more settings defines its own ``workdir`` or ``env``."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from authward.config import load_app
from authward.runtime import Authward
from authward.settings import load_settings
from tests.conftest import EXAMPLE_APP


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE_APP, tmp_path / "app.py")
    return tmp_path


@pytest.fixture
def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}


@asynccontextmanager
async def opened_store(workdir: Path) -> AsyncIterator[Authward]:
    """The store the CLI made in ``workdir`` (authward.db, authward.key, app.py: its defaults),
    opened in this process."""
    config, _ = load_app(workdir / "app.py")
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'authward.db'}",
        key_file=workdir / "authward.key",
    )
    aw = await Authward.open(config, settings)
    try:
        yield aw
    finally:
        await aw.close()
