"""Commands imported only when they run: ``authward --help`` must not import the server, the
store or the HTTP stack (about two seconds), only to list the commands' names and help."""

from __future__ import annotations

__all__ = ["LazyCommand", "LazyGroup"]

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
import typer.core
import typer.main


@dataclass(frozen=True)
class LazyCommand:
    """A command (or group of commands) of ``module``: its Typer app ``attribute``, or, with
    ``attribute`` None, the command of that name that ``module.register(app)`` declares."""

    module: str
    attribute: str | None
    #: What ``authward --help`` lists; a test checks it against the command's own help.
    help: str

    def load(self, name: str) -> Any:
        module = importlib.import_module(self.module)
        if self.attribute is not None:
            return typer.main.get_group(getattr(module, self.attribute))
        declared = typer.Typer()
        module.register(declared)
        return typer.main.get_group(declared).commands[name]


class _Placeholder(typer.core.TyperCommand):
    """Stands for a lazy command in the help listing; replaced by the real one to run."""

    def __init__(self, name: str, lazy: LazyCommand) -> None:
        super().__init__(name, help=lazy.help)
        self.lazy = lazy


class LazyGroup(typer.core.TyperGroup):
    """The root group: ``LAZY`` (set by a subclass) lists commands by name, in order."""

    LAZY: ClassVar[dict[str, LazyCommand]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, lazy in self.LAZY.items():
            self.add_command(_Placeholder(name, lazy), name)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Placeholder) and name is not None:
            command = command.lazy.load(name)
            self.commands[name] = command
        return name, command, rest
