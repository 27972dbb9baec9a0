"""`authward --help` and each command start without importing what other commands need: the
command modules are imported only when their command runs."""

from __future__ import annotations

import subprocess
import sys

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


def test_a_group_is_imported_when_it_is_used() -> None:
    shown, imported = _imported_after("oauth2client", "--help")
    assert "Print a client's id and secret." in shown
    assert "authward.runtime" in imported


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    lazy = COMMANDS[name]
    command = lazy.load(name)
    own = (command.help or "").split("\n\n")[0]
    assert " ".join(own.split()) == lazy.help
