"""Only the composition root's own circle imports ``authward.runtime`` (issue 14 item 1): the
HTTP server, the CLI, ``runtime.py`` itself and ``embed.py``; the package's ``__init__`` may name it
for a lazy re-export. Every other module gets narrow ports at construction, so an import of the
runtime in any form (``TYPE_CHECKING`` blocks and function bodies included) fails here."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import authward
from authward.jobs import JobPorts, JobsRuntime

SRC = Path(authward.__file__).parent
RUNTIME = "authward.runtime"
#: The root's circle: these build, start and stop the runtime, or serve it.
ALLOWED_PACKAGES = ("server/", "cli/")
ALLOWED_MODULES = ("runtime.py", "embed.py", "__init__.py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(source: str, module: str, *, package: bool = False) -> list[int]:
    """The lines of ``source`` (the module ``module``) that import the runtime, in any form:
    ``import``, ``from ... import`` (relative ones resolved), ``from authward import runtime``,
    and ``importlib.import_module("authward.runtime")``, wherever they sit in the tree."""
    here = module.split(".") if package else module.split(".")[:-1]
    lines = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            origin = ".".join([*base, *([node.module] if node.module else [])])
            names = [origin, *(f"{origin}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names = [first.value]
        if any(n == RUNTIME or n.startswith(RUNTIME + ".") for n in names):
            lines.append(node.lineno)
    return lines


def allowed(path: Path) -> bool:
    relative = path.relative_to(SRC).as_posix()
    return relative.startswith(ALLOWED_PACKAGES) or relative in ALLOWED_MODULES


def test_no_module_outside_the_root_imports_the_runtime() -> None:
    offenders = {}
    for path in sorted(SRC.rglob("*.py")):
        if allowed(path):
            continue
        lines = runtime_imports(
            path.read_text(), module_name(path), package=path.name == "__init__.py"
        )
        if lines:
            offenders[path.relative_to(SRC).as_posix()] = lines
    assert offenders == {}


#: The ASGI composition: it builds every route from the opened runtime.
SERVER_COMPOSITION = ("server/app.py",)


def test_routes_take_ports_not_the_runtime() -> None:
    """Every route module takes a Protocol of what it calls plus plain values
    (``session_routes(aw.sessions)``); only the composition in ``server/app.py`` opens
    ``Authward``."""
    offenders = {}
    for path in sorted((SRC / "server").rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative in SERVER_COMPOSITION:
            continue
        lines = runtime_imports(
            path.read_text(), module_name(path), package=path.name == "__init__.py"
        )
        if lines:
            offenders[relative] = lines
    assert offenders == {}
    assert runtime_imports((SRC / "server" / "app.py").read_text(), "authward.server.app")


def test_the_allowed_list_names_only_the_root_and_its_users() -> None:
    # Subpackages' __init__ are not the package's lazy re-export.
    assert not allowed(SRC / "jobs" / "__init__.py")
    assert not allowed(SRC / "channel" / "own_tokens.py")
    assert allowed(SRC / "server" / "app.py")
    assert allowed(SRC / "__init__.py")


@pytest.mark.parametrize(
    "source",
    [
        "import authward.runtime\n",
        "from authward.runtime import Authward\n",
        "from authward import runtime\n",
        "from .. import runtime\n",
        "from ..runtime import Authward\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from authward.runtime import A\n",
        "def f():\n    from authward.runtime import Authward\n    return Authward\n",
        "import importlib\nimportlib.import_module('authward.runtime')\n",
    ],
)
def test_every_form_of_importing_the_runtime_is_seen(source: str) -> None:
    assert runtime_imports(source, "authward.jobs.example")


def test_imports_of_other_modules_are_not_taken_for_the_runtime() -> None:
    source = "from authward.jobs.runtime import JobsRuntime\nfrom . import runtime\n"
    assert runtime_imports(source, "authward.jobs.example") == []


def test_the_job_runtime_is_built_from_its_ports() -> None:
    parameters = list(inspect.signature(JobsRuntime).parameters.values())
    assert parameters[0].name == "ports"
    assert parameters[0].annotation in (JobPorts, "JobPorts")
    annotations = " ".join(str(p.annotation) for p in parameters)
    assert "Authward" not in annotations
    assert "Settings" not in annotations


def test_the_vault_imports_nothing_of_the_job_runtime() -> None:
    """Both make credentials; their value type sits in connections/, below jobs/ (no cycle)."""
    for path in sorted((SRC / "connections").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("authward.jobs", "authward.integrations")), (
                    path,
                    node.lineno,
                )


def test_jobs_and_integrations_read_no_settings_whole() -> None:
    """The root hands the job runtime its slice (``JobSettings``); nothing in jobs/ or
    integrations/ imports the whole ``Settings``."""
    for package in ("jobs", "integrations"):
        for path in sorted((SRC / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    assert node.module != "authward.settings", (path, node.lineno)
