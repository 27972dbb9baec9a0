"""Every module that writes a table the token view reads counts its writes (store/changes.py):
a write that is not counted is seen by other processes only when they restart (decision 041).
(``store/sync.py`` writes through a variable, which this does not see; the integration test
tests/integration/test_token_view_refresh.py sees its writes from another runtime.)"""

from __future__ import annotations

import ast
from pathlib import Path

import authward
from authward.store import schema
from authward.store.changes import COUNTED

SRC = Path(authward.__file__).parent
#: The counted tables, by their names in store/schema.py.
NAMES = {
    "signing_keys",
    "machine_users",
    "oauth2_clients",
    "revoked_tokens",
    "registered_clients",
}


def written_tables(tree: ast.AST) -> set[str]:
    """Counted tables a module writes by name: ``t.insert()``, ``update(t)``, ``delete(t)``."""
    out = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func, args = node.func, node.args
        if isinstance(func, ast.Attribute) and func.attr in {"insert", "update", "delete"}:
            target = func.value
        elif isinstance(func, ast.Name) and func.id in {"insert", "update", "delete"} and args:
            target = args[0]
        else:
            continue
        if isinstance(target, ast.Name) and target.id in NAMES:
            out.add(target.id)
    return out


def imports_bump(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "authward.store.changes"
        and any(alias.name == "bump" for alias in node.names)
        for node in ast.walk(tree)
    )


def test_every_writer_of_a_counted_table_bumps_its_counter() -> None:
    assert {getattr(schema, name) for name in NAMES} == set(COUNTED)
    writers = {}
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        if written_tables(tree):
            writers[path.relative_to(SRC).as_posix()] = imports_bump(tree)
    assert {"store/keys.py", "store/revocations.py"} <= writers.keys()
    assert [path for path, bumps in writers.items() if not bumps] == []
