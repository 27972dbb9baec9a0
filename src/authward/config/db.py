"""``db``: declare the app's database types; each becomes a real table.

    user = db.type("User", {
        "email": db.string().unique(),
        "role": db.enum(["ADMIN", "USER"]),
        "organization_id": db.uuid(),
        **db.fields.timestamps(),
    })

Every type has an implicit ``id`` (UUID primary key). ``.hooks(...)`` and ``.validate(...)``
receive the acting principal as ``user``.
"""

from __future__ import annotations

__all__ = [
    "DbType",
    "FieldHooks",
    "bool",
    "date",
    "datetime",
    "enum",
    "fields",
    "float",
    "int",
    "string",
    "time",
    "type",
    "uuid",
]

import builtins
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType, SimpleNamespace
from typing import Any, Literal, TypeAlias

from authward.config.fields import Field, enum_problem, enum_values
from authward.errors import ConfigError, ConfigIssue

HookFn: TypeAlias = Callable[..., Any]
ValidatorFn: TypeAlias = Callable[..., builtins.bool]
FieldHooks: TypeAlias = Mapping[Literal["create", "update"], HookFn]
ValidatorSpec: TypeAlias = (
    ValidatorFn | tuple[ValidatorFn, str] | Sequence[ValidatorFn | tuple[ValidatorFn, str]]
)

_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RESERVED_TABLE_PREFIXES = ("aw_", "alembic")


def string(*, array: builtins.bool = False) -> Field:
    return Field("string", array=array)


def bool(*, array: builtins.bool = False) -> Field:
    return Field("bool", array=array)


def int(*, array: builtins.bool = False) -> Field:
    return Field("int", array=array)


def float(*, array: builtins.bool = False) -> Field:
    return Field("float", array=array)


def enum(values: Sequence[str], *, array: builtins.bool = False) -> Field:
    return Field("enum", array=array, values=enum_values("db.enum", values))


def uuid(*, array: builtins.bool = False) -> Field:
    return Field("uuid", array=array)


def datetime(*, array: builtins.bool = False) -> Field:
    return Field("datetime", array=array)


def date(*, array: builtins.bool = False) -> Field:
    return Field("date", array=array)


def time(*, array: builtins.bool = False) -> Field:
    return Field("time", array=array)


def _timestamps() -> dict[str, Field]:
    """``created_at`` set when a record is created, ``updated_at`` each time it is updated."""
    return {
        "created_at": Field("datetime", auto="create", description="set when created"),
        "updated_at": Field(
            "datetime", is_optional=True, auto="update", description="set when updated"
        ),
    }


fields = SimpleNamespace(timestamps=_timestamps)


def table_name(type_name: str) -> str:
    """``TeamMember`` -> ``team_member``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).lower()


class DbType:
    """A database type. Built by :func:`type`; ``hooks`` and ``validate`` chain."""

    def __init__(self, name: str, fields: Mapping[str, Field]) -> None:
        self.name = name
        self.table_name = table_name(name)
        self.fields: Mapping[str, Field] = MappingProxyType({"id": Field("uuid"), **fields})
        self.field_hooks: dict[str, dict[str, HookFn]] = {}
        self.validators: dict[str, list[tuple[ValidatorFn, str]]] = {}

    def __repr__(self) -> str:
        return f"DbType({self.name!r})"

    def hooks(self, **per_field: FieldHooks) -> DbType:
        """Compute a field's value on ``create`` / ``update``: ``fn(user=, value=, data=)``."""
        issues: list[ConfigIssue] = []
        for field_name, hooks in per_field.items():
            path = f"{self.name}.hooks.{field_name}"
            if field_name not in self.fields or field_name == "id":
                issues.append(ConfigIssue(path, f"{self.name} has no field {field_name!r}"))
                continue
            if not isinstance(hooks, Mapping):
                issues.append(ConfigIssue(path, "expected {'create': fn, 'update': fn}"))
                continue
            for op, fn in hooks.items():
                if op not in ("create", "update"):
                    issues.append(ConfigIssue(f"{path}.{op}", "hook must be 'create' or 'update'"))
                elif not callable(fn):
                    issues.append(ConfigIssue(f"{path}.{op}", "hook must be callable"))
                else:
                    self.field_hooks.setdefault(field_name, {})[op] = fn
        if issues:
            raise ConfigError(issues)
        return self

    def validate(self, **per_field: ValidatorSpec) -> DbType:
        """Refuse a write unless ``fn(user=, value=, data=)`` is true; ``(fn, message)`` pairs."""
        issues: list[ConfigIssue] = []
        for field_name, spec in per_field.items():
            path = f"{self.name}.validate.{field_name}"
            if field_name not in self.fields or field_name == "id":
                issues.append(ConfigIssue(path, f"{self.name} has no field {field_name!r}"))
                continue
            for i, item in enumerate(_validator_items(spec)):
                if isinstance(item, tuple):
                    if len(item) != 2 or not callable(item[0]) or not isinstance(item[1], str):
                        issues.append(ConfigIssue(f"{path}[{i}]", "expected (fn, message)"))
                        continue
                    fn, message = item
                elif callable(item):
                    fn, message = item, f"{field_name} is not valid"
                else:
                    issues.append(ConfigIssue(f"{path}[{i}]", "expected fn or (fn, message)"))
                    continue
                self.validators.setdefault(field_name, []).append((fn, message))
        if issues:
            raise ConfigError(issues)
        return self


def _validator_items(spec: ValidatorSpec) -> list[Any]:
    if callable(spec) or (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str)):
        return [spec]
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return list(spec)
    return [spec]


def type(name: str, fields: Mapping[str, Field]) -> DbType:
    """Declare a database type; the definition is checked here, naming the field that is wrong."""
    issues: list[ConfigIssue] = []
    if not isinstance(name, str) or not _TYPE_NAME.fullmatch(name):
        issues.append(
            ConfigIssue(
                f"db.type({name!r})",
                "type names start with an upper-case letter and use letters and digits only",
            )
        )
    elif table_name(name).startswith(_RESERVED_TABLE_PREFIXES):
        issues.append(ConfigIssue(f"db.type({name!r})", "this name is reserved by authward"))
    for field_name, field in fields.items():
        path = f"{name}.{field_name}"
        if field_name == "id":
            issues.append(ConfigIssue(path, "'id' is implicit (a UUID primary key); remove it"))
        elif not _FIELD_NAME.fullmatch(field_name):
            issues.append(
                ConfigIssue(path, "field names are snake_case: lower-case letters, digits, _")
            )
        if not isinstance(field, Field):
            issues.append(ConfigIssue(path, "expected a field such as db.string()"))
            continue
        problem = enum_problem(field)
        if problem:
            issues.append(ConfigIssue(path, problem))
        if field.is_unique and field.array:
            issues.append(ConfigIssue(path, "an array field cannot be unique"))
    if issues:
        raise ConfigError(issues)
    return DbType(name, fields)
