"""``auth.users`` (decision 042): the users of the runtime open on the config, found through
config/opened.py; the config object itself is never written."""

from __future__ import annotations

from pathlib import Path

import pytest

from authward.config import Config
from authward.errors import ConfigError
from authward.runtime import Authward
from tests.conftest import SettingsFactory


async def test_auth_users_is_the_latest_runtime_still_open_on_the_config(
    tmp_path: Path, settings_for: SettingsFactory, example_config: Config
) -> None:
    auth = example_config.auth
    before = dict(vars(auth))

    async def open_on(name: str) -> Authward:
        url = f"sqlite+aiosqlite:///{tmp_path / name}"
        return await Authward.open(example_config, settings_for(url), migrate=True)

    first = await open_on("first.db")
    try:
        assert auth.users is first.users
        second = await open_on("second.db")
        assert auth.users is second.users
        await second.close()
        # The earlier runtime, still open, serves the config again.
        assert auth.users is first.users
    finally:
        await first.close()
    with pytest.raises(ConfigError, match="is not open"):
        auth.users  # noqa: B018
    assert vars(auth) == before
