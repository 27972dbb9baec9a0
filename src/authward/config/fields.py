"""Field types shared by the database DSL (``db``) and the attribute DSL (``t``)."""

from __future__ import annotations

__all__ = ["Field", "FieldKind"]

from dataclasses import dataclass, replace
from typing import Literal

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
