"""`authward --help` and each command start without importing what other commands need: the
command modules are imported only when their command runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from authward.cli.main import COMMANDS

HEAVY = ("sqlalchemy", "fastapi", "asyncpg", "starlette", "uvicorn", "authward.runtime")

_PROBE = """
import sys
from authward.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print("imported:", sorted(m for m in {heavy!r} if m in sys.modules))
"""


def _imported_after(*args: str) -> tuple[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out, _, last = result.stdout.rstrip().rpartition("\n")
    assert last.startswith("imported: ")
    return out, eval(last.removeprefix("imported: "))  # noqa: S307 - our own printed list


def test_importing_the_cli_imports_no_server_store_or_http_stack() -> None:
    probe = "import sys, authward.cli.main; print(sorted(m for m in {h!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe.format(h=HEAVY)], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_help_lists_every_command_without_importing_them() -> None:
    shown, imported = _imported_after("--help")
    assert imported == []
    for name in COMMANDS:
        assert f" {name} " in shown


def test_a_groups_help_does_not_open_the_runtime() -> None:
    # The group's own module is imported (its subcommands are listed); the runtime, which
    # brings the store and the HTTP stack, only when a command opens it.
    for group, subcommand_help in (
        ("oauth2client", "Print a client's id and secret."),
        ("user", "Create a user and its profile record."),
        ("apikey", "Create a key and print it"),
    ):
        shown, imported = _imported_after(group, "--help")
        assert subcommand_help in shown
        assert "authward.runtime" not in imported, group


def test_a_command_imports_the_runtime_when_it_runs(tmp_path: Path) -> None:
    _, imported = _imported_after("oauth2client", "list", "--app", str(tmp_path / "missing.py"))
    assert "authward.runtime" in imported


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    lazy = COMMANDS[name]
    command = lazy.load(name)
    own = (command.help or "").split("\n\n")[0]
    assert " ".join(own.split()) == lazy.help
