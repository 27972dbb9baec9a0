"""``t``: attribute types for apps that declare ``machine_user_attributes`` without a profile.

``t.bool`` shadows the builtin inside this module on purpose (it reads like the seed), hence
``builtins.bool`` in the annotations.
"""

from __future__ import annotations

__all__ = ["bool", "enum", "string", "uuid"]

import builtins
from collections.abc import Sequence

from authward.config.fields import Field, enum_values


def string(*, array: builtins.bool = False) -> Field:
    return Field("string", array=array)


def bool(*, array: builtins.bool = False) -> Field:
    return Field("bool", array=array)


def enum(values: Sequence[str], *, array: builtins.bool = False) -> Field:
    return Field("enum", array=array, values=enum_values("t.enum", values))


def uuid() -> Field:
    return Field("uuid")
