"""The layers of docs/architecture.md hold: every import between authward's packages goes down
the list below (``TYPE_CHECKING`` and function-level imports included), so there is no cycle
between packages and nothing below ``server/``, ``cli/`` and ``embed`` imports the runtime; SQL
lives in ``store/``; no module is over 500 lines.

``KNOWN_*`` name what is still out of line, each removed by the change that fixes it: the test
fails on anything new, and on a known entry that no longer happens (so the lists only shrink).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import authward

SRC = Path(authward.__file__).parent

#: Bottom to top. A package may import its own modules and the packages listed before it.
LAYERS = (
    "errors",
    "principal",
    "agents",
    "refreshing",
    "uses",
    "observability",  # logs, metrics, traces: counted from any layer
    "tokens",
    "config",
    "settings",
    "crypto",
    "codegen",
    "store",
    "identity",
    "connections",
    "users",
    "oauth",
    "channel",
    "jobs",
    "integrations",
    "mcp",  # MCP servers on the official SDK, behind the chain
    "runtime",  # the composition root
    "server",
    "embed",
    "cli",
    "__main__",
    "authward",  # the package's own __init__ (re-exports for users)
)

KNOWN_UPWARD: set[tuple[str, str]] = set()
#: The job engine's claim, lease and wake-up SQL, which the engine issue (15) deletes.
ENGINE_SQL = {
    "jobs._sql",
    "jobs.ports",  # the engine that SQL runs on, handed to the job runtime
    "jobs.dynamic_trigger",
    "jobs.schedule_store",
    "jobs.store",
    "jobs.webhook_store",
}
KNOWN_SQL_OUTSIDE_STORE: set[str] = set()
KNOWN_LARGE: set[str] = set()


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        if rel.parts[:2] == ("store", "migrations"):
            continue  # Alembic's scripts, run by Alembic
        parts = rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts
        yield ".".join(parts), path


def _package(module: str) -> str:
    return module.split(".")[0] if module else "authward"


def _imports(module: str, path: Path) -> Iterator[str]:
    """Every authward module ``module`` imports, at any depth of its body."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if module else []
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                yield ".".join(["authward", *base, *([node.module] if node.module else [])])
            elif node.module is not None:
                yield node.module
                yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _edges() -> set[tuple[str, str]]:
    edges = set()
    for module, path in _modules():
        for name in _imports(module, path):
            if name == "authward" or not name.startswith("authward."):
                continue
            target = _package(name.removeprefix("authward."))
            source = _package(module)
            if target != source:
                edges.add((source, target))
    return edges


def test_every_package_has_a_layer() -> None:
    packages = {_package(m) for m, _ in _modules()}
    assert packages - set(LAYERS) == set()


def test_imports_go_down_the_layers() -> None:
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = {(a, b) for a, b in _edges() if b in rank and rank[b] >= rank[a]}
    assert upward - KNOWN_UPWARD == set(), "new imports against the layers"
    assert KNOWN_UPWARD - upward == set(), "fixed: remove from KNOWN_UPWARD"


def test_sql_lives_in_store() -> None:
    found = set()
    for module, path in _modules():
        if module.startswith("store") or module in ENGINE_SQL:
            continue
        if any(n.split(".")[0] == "sqlalchemy" for n in _imports(module, path)):
            found.add(module)
    assert found - KNOWN_SQL_OUTSIDE_STORE == set(), "SQLAlchemy imported outside store/"
    assert KNOWN_SQL_OUTSIDE_STORE - found == set(), "fixed: remove from KNOWN_SQL_OUTSIDE_STORE"


def test_no_module_is_over_500_lines() -> None:
    large = {m for m, path in _modules() if len(path.read_text().splitlines()) > 500}
    assert large - KNOWN_LARGE == set()
    assert KNOWN_LARGE - large == set(), "fixed: remove from KNOWN_LARGE"
