"""Every exception authward defines sits in the one tree of ``authward.errors``, under one name.

A caller catches ``AuthwardError`` to handle anything authward refuses, and reads a class name in
a log or a trace to know which refusal it was: both only hold if no module raises an exception of
its own off the tree, and no two classes share a name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict

import authward
from authward.errors import AuthwardError, AuthwardSignal

# Not importable as a library module: one runs the CLI, the other only runs inside Alembic.
_SKIPPED = ("authward.__main__", "authward.store.migrations")


def _defined_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(authward.__path__, prefix="authward."):
        if info.name.startswith(_SKIPPED):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def test_the_walk_finds_exceptions_in_every_layer() -> None:
    modules = {cls.__module__.split(".")[1] for cls in _defined_exceptions()}
    assert {"errors", "oauth", "channel", "server", "jobs", "users", "connections"} <= modules


def test_every_exception_derives_from_authward_error() -> None:
    off_tree = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _defined_exceptions()
        if issubclass(cls, Exception) and not issubclass(cls, AuthwardError)
    )
    assert off_tree == []


def test_control_flow_signals_are_authward_signals() -> None:
    # A run function's ``except Exception`` must not swallow these, so they cannot be
    # AuthwardErrors; they have their own root beside it instead.
    signals = [cls for cls in _defined_exceptions() if not issubclass(cls, Exception)]
    assert signals
    assert [cls.__qualname__ for cls in signals if not issubclass(cls, AuthwardSignal)] == []


def test_no_two_exceptions_share_a_name() -> None:
    where: defaultdict[str, list[str]] = defaultdict(list)
    for cls in _defined_exceptions():
        where[cls.__name__].append(cls.__module__)
    assert {name: mods for name, mods in where.items() if len(mods) > 1} == {}
