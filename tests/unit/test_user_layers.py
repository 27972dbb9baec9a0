"""The users aggregate and the attempt limits keep to their layers (issue 14): SQL only in
store/, the services take ports and their own settings (no runtime, no Settings), and the config
is never written once made (``auth.users`` resolves through config/opened.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import authward

SRC = Path(authward.__file__).parent
USERS = sorted((SRC / "users").glob("*.py"))
LIMITED = [SRC / "oauth" / "failures.py", SRC / "users" / "throttle.py"]
STORE_INTERNALS = {"authward.store.schema", "authward.store.engine", "authward.store.direct"}


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, ``TYPE_CHECKING`` and function-level imports included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_only_the_store_of_users_holds_their_sql() -> None:
    assert "sqlalchemy" in {n.split(".")[0] for n in imported(SRC / "store" / "users.py")}
    assert {p.name for p in USERS} >= {"ports.py", "service.py", "sign_in.py", "throttle.py"}
    for path in [*USERS, *LIMITED]:
        names = imported(path)
        assert "sqlalchemy" not in {n.split(".")[0] for n in names}, path
        assert not names & STORE_INTERNALS, path


def test_users_and_the_limits_take_ports_not_the_runtime_or_settings() -> None:
    for path in [*USERS, *LIMITED]:
        names = imported(path)
        assert "authward.runtime" not in names, path
        assert "authward.settings" not in names, path
        assert "authward.config.app" not in names, path  # the profile, not the whole Config


def test_the_config_is_never_written_after_it_is_made() -> None:
    for path in [*sorted((SRC / "config").glob("*.py")), SRC / "runtime.py"]:
        text = path.read_text()
        assert "object.__setattr__" not in text, path
        assert "bind_users" not in text, path
    assert 'getattr(self.config.auth, "_' not in (SRC / "runtime.py").read_text()
