"""The API keys aggregate keeps to its layers (issue 14): SQL only in store/, the service takes
ports (no runtime, no Settings, no oauth/ import for its limiter), and channel/ keeps only the
Protocol its chain entry calls."""

from __future__ import annotations

import ast
from pathlib import Path

import authward

SRC = Path(authward.__file__).parent
SERVICE = sorted((SRC / "identity").glob("api_key*.py"))


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, ``TYPE_CHECKING`` and function-level imports included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_only_the_store_of_api_keys_holds_their_sql() -> None:
    assert [p.name for p in SERVICE] == ["api_key_ports.py", "api_keys.py"]
    assert "sqlalchemy" in {n.split(".")[0] for n in imported(SRC / "store" / "api_keys.py")}
    for path in SERVICE:
        names = imported(path)
        assert "sqlalchemy" not in {n.split(".")[0] for n in names}, path
        assert "authward.store.schema" not in names, path
        assert "authward.store.engine" not in names, path


def test_the_api_keys_service_takes_ports_not_the_runtime_settings_or_oauth() -> None:
    for path in SERVICE:
        names = imported(path)
        assert "authward.runtime" not in names, path
        assert "authward.settings" not in names, path
        assert not any(n.startswith("authward.oauth") for n in names), path


def test_channel_keeps_no_api_keys_service() -> None:
    assert not (SRC / "channel" / "api_keys.py").exists()
    for path in (SRC / "channel").glob("*.py"):
        assert not any(n.startswith("authward.identity") for n in imported(path)), path
