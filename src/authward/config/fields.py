"""Field types shared by the database DSL (``db``) and the attribute DSL (``t``)."""

from __future__ import annotations

__all__ = ["Field", "FieldKind", "enum_problem", "enum_values"]

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from authward.errors import ConfigError

FieldKind = Literal["string", "bool", "int", "float", "enum", "uuid", "datetime", "date", "time"]

#: Kinds whose values the authorization engine can compare (the seed's "value operands").
VALUE_OPERAND_KINDS: frozenset[FieldKind] = frozenset({"string", "bool", "enum"})
TEMPORAL_KINDS: frozenset[FieldKind] = frozenset({"datetime", "date", "time"})


@dataclass(frozen=True, slots=True)
class Field:
    """One typed field. Builders return new values, so a field can be shared safely."""

    kind: FieldKind
    array: bool = False
    is_unique: bool = False
    is_optional: bool = False
    values: tuple[str, ...] = ()
    description: str = ""
    #: Set by the store, never by the caller: "create" (created_at) or "update" (updated_at).
    auto: Literal["create", "update"] | None = None

    def unique(self) -> Field:
        return replace(self, is_unique=True)

    def optional(self) -> Field:
        return replace(self, is_optional=True)

    def describe(self, text: str) -> Field:
        return replace(self, description=text)

    @property
    def type_label(self) -> str:
        """How the field reads in an error message: ``string``, ``enum``, ``boolean[]``..."""
        label = {"bool": "boolean"}.get(self.kind, self.kind)
        return f"{label}[]" if self.array else label


def enum_values(builder: str, values: Sequence[str]) -> tuple[str, ...]:
    """The values of ``builder(values)``; a bare string would silently split into letters."""
    if isinstance(values, str):
        raise ConfigError(f"expected a list of values, e.g. {builder}([{values!r}])", path=builder)
    return tuple(values)


def enum_problem(f: Field) -> str | None:
    """Why an enum field's values are unusable, or ``None``."""
    if f.kind != "enum":
        return None
    if not all(isinstance(v, str) and v for v in f.values):
        return "enum values are non-empty strings"
    if not f.values or len(set(f.values)) != len(f.values):
        return "an enum needs one or more distinct values"
    return None
