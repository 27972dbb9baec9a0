"""Config problems gathered while an app loads, each naming the path that is wrong."""

from __future__ import annotations

__all__ = ["NAME", "Issues"]

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from authward.errors import ConfigIssue

#: Names of clients, machine users and roles.
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Issues:
    def __init__(self) -> None:
        self.items: list[ConfigIssue] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(ConfigIssue(path, message))

    def unknown_keys(self, path: str, given: Mapping[str, Any], allowed: Sequence[str]) -> None:
        by_squashed = {_squash(a): a for a in allowed}
        for key in given:
            if key not in allowed:
                exact = by_squashed.get(_squash(str(key)))
                close = [exact] if exact else difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.add(f"{path}.{key}", f"unknown key{hint} (allowed: {', '.join(allowed)})")


def _squash(name: str) -> str:
    """``redirectURIs`` and ``redirect_uris`` squash to the same key (for "did you mean")."""
    return name.replace("_", "").lower()
