"""The connected-accounts vault keeps to its layers (issue 14): its SQL only in store/vault.py,
its pages in server/, and connections/ imports neither SQLAlchemy, nor server/, nor the runtime,
even under ``TYPE_CHECKING`` or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import authward

SRC = Path(authward.__file__).parent
CONNECTIONS = sorted((SRC / "connections").glob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, ``TYPE_CHECKING`` and function-level imports included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_the_package_is_what_this_test_reads() -> None:
    names = {path.name for path in CONNECTIONS}
    assert {"vault.py", "refresh.py", "ports.py", "values.py"} <= names
    assert "pages.py" not in names


def test_only_the_store_of_the_vault_imports_sqlalchemy() -> None:
    assert "sqlalchemy" in {n.split(".")[0] for n in imported(SRC / "store" / "vault.py")}
    for path in CONNECTIONS:
        roots = {name.split(".")[0] for name in imported(path)}
        assert "sqlalchemy" not in roots, path


def test_connections_imports_no_server_no_runtime_no_settings() -> None:
    for path in CONNECTIONS:
        for name in imported(path):
            assert not name.startswith("authward.server"), (path, name)
            assert name not in ("authward.runtime", "authward.settings"), (path, name)
            # The whole app config is not the vault's: it takes its providers.
            assert name != "authward.config.app", (path, name)


def test_the_vault_store_sees_no_domain_of_connections() -> None:
    """The store sits below the vault: it neither seals nor opens, so it needs none of it."""
    names = imported(SRC / "store" / "vault.py")
    assert not any(n.startswith(("authward.connections", "authward.crypto")) for n in names)


def test_every_route_of_connections_is_in_server() -> None:
    for path in CONNECTIONS:
        roots = {name.split(".")[0] for name in imported(path)}
        assert not roots & {"starlette", "fastapi"}, path
    assert "authward.connections.vault" not in imported(SRC / "server" / "connection_routes.py")


def test_the_vault_is_wired_at_construction() -> None:
    """No ``users.vault = ...``: whoever needs the vault gets it from its constructor."""
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    filled = (
                        isinstance(target, ast.Attribute)
                        and target.attr in ("vault", "connections")
                        and not (isinstance(target.value, ast.Name) and target.value.id == "self")
                    )
                    assert not filled, (path, node.lineno)
