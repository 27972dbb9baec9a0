"""Output for people on a terminal and for scripts in a pipe: the same command prints a table
that wraps its cells in one, and plain lines that never wrap in the other."""

from __future__ import annotations

__all__ = ["ScriptableTable", "stdout_console"]

import re
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text


class _StdoutConsole(Console):
    def print(self, *objects: Any, **options: Any) -> None:
        # In a pipe nothing is wrapped or cut at 80 columns: one line stays one line for grep.
        # Decided per call: stdout may be swapped after start-up (a test runner's capture).
        if options.get("soft_wrap") is None:
            options["soft_wrap"] = not self.is_terminal
        super().print(*objects, **options)


def stdout_console() -> Console:
    return _StdoutConsole()


def _plain(cell: RenderableType) -> str:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    # Several values in one cell (one per line on a terminal) stay on the row's line.
    return re.sub(r"[\t\r\n]+", " ", text)


def _field(header: RenderableType) -> str:
    name = re.sub(r"\W+", "_", _plain(header).lower()).strip("_")
    return name or _plain(header)


class ScriptableTable(Table):
    """A rich table on a terminal. In a pipe: a header line of the column names as fields
    (``client_id``), then one line per row, the cells separated by tabs, never wrapped (for
    ``grep``, ``cut -f`` and ``awk -F'\\t'``)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if console.is_terminal:
            yield from super().__rich_console__(console, options)
            return
        yield Segment("\t".join(_field(c.header) for c in self.columns))
        yield Segment.line()
        for row in zip(*(c.cells for c in self.columns), strict=True):
            yield Segment("\t".join(_plain(cell) for cell in row))
            yield Segment.line()
