"""What most end-to-end modules start from: the example app in a folder of its own, and an
environment with none of the caller's AUTHWARD_* settings. A module that needs another app or
more settings defines its own ``workdir`` or ``env``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_APP


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE_APP, tmp_path / "app.py")
    return tmp_path


@pytest.fixture
def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
