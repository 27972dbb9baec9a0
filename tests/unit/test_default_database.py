"""Each app file has its own default SQLite store; an explicit database always wins (decision
036)."""

from __future__ import annotations

from pathlib import Path

import pytest

from authward.settings import load_settings


@pytest.mark.parametrize(
    ("app", "url"),
    [
        ("app.py", "sqlite+aiosqlite:///./authward.db"),
        ("examples/app.py", "sqlite+aiosqlite:///./authward.db"),
        ("examples/jobs.py", "sqlite+aiosqlite:///./authward-jobs.db"),
        ("examples/byo_auth.py", "sqlite+aiosqlite:///./authward-byo_auth.db"),
        ("examples/agent_channel.py", "sqlite+aiosqlite:///./authward-agent_channel.db"),
        ("my app/serve me.py", "sqlite+aiosqlite:///./authward-serve_me.db"),
    ],
)
def test_each_app_file_has_its_own_store(
    app: str, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTHWARD_DATABASE_URL", raising=False)
    assert load_settings(app=Path(app)).database_url == url
    assert load_settings().database_url == "sqlite+aiosqlite:///./authward.db"


def test_an_explicit_database_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHWARD_DATABASE_URL", "postgresql://db.internal/authward")
    assert load_settings(app=Path("jobs.py")).database_url == "postgresql://db.internal/authward"
    monkeypatch.delenv("AUTHWARD_DATABASE_URL")
    given = load_settings(app=Path("jobs.py"), database_url="sqlite:///other.db")
    assert given.database_url == "sqlite:///other.db"
