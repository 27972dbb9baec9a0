"""The sessions aggregate keeps to its layers (issue 14): SQL only in store/, no runtime object
in the domain service or its routes, and nothing of it left in channel/."""

from __future__ import annotations

import ast
from pathlib import Path

import authward

SRC = Path(authward.__file__).parent
SESSIONS_OUTSIDE_STORE = [
    *sorted((SRC / "identity").glob("session*.py")),
    SRC / "server" / "session_routes.py",
]


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, ``TYPE_CHECKING`` and function-level imports included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_only_the_store_of_sessions_imports_sqlalchemy() -> None:
    assert "sqlalchemy" in {n.split(".")[0] for n in imported(SRC / "store" / "sessions.py")}
    for path in SESSIONS_OUTSIDE_STORE:
        roots = {name.split(".")[0] for name in imported(path)}
        assert "sqlalchemy" not in roots, path


def test_the_sessions_service_and_routes_take_no_runtime_nor_settings() -> None:
    for path in SESSIONS_OUTSIDE_STORE:
        names = imported(path)
        assert "authward.runtime" not in names, path
        assert "authward.settings" not in names, path


def test_channel_keeps_no_sessions_service() -> None:
    assert not (SRC / "channel" / "sessions.py").exists()
    for path in (SRC / "channel").glob("*.py"):
        assert not any(n.startswith("authward.identity") for n in imported(path)), path
