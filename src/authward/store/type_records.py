"""Records of the app's db types: create, update, get, find, delete, with hooks and validators.

    users = aw.records(user)
    alice = await users.create({"email": "alice@example.com", ...})    # acts as current_principal()
    await users.update(alice["id"], {"role": "ADMIN"}, user=admin)

A write goes through these steps, in this order; the first problem found stops it with a
:class:`~authward.errors.RecordError` naming the field (``User.role: ...``), and nothing is written:

1. **Shape.** Fields the type does not declare are refused; so are ``auto`` fields
   (``created_at``/``updated_at`` from ``db.fields.timestamps()``), which only the store sets.
   ``id`` may be given on create (else a new UUID4) and can never change on update.
2. **Types** of the caller's values (``None`` is allowed here; step 5 decides whether it may be).
   ``uuid`` takes a UUID or its string; ``datetime`` must be timezone-aware and is kept in UTC;
   ``time`` must be naive; ``float`` takes an int; ``bool`` is never an int and ``int`` never a
   bool; ``int`` fits 64 bits; floats are finite; strings hold no NUL; arrays are lists/tuples
   whose items all have the field's type. Checking before the hooks means hooks and validators
   only ever see well-typed values.
3. **Auto fields**: on create ``auto="create"`` fields are set to now (UTC); on every update
   ``auto="update"`` fields are set to now (and on create too when such a field is required).
4. **Hooks**: the ``create`` (or ``update``) hook of each field that has one, in declaration
   order, called as ``fn(user=, value=, data=)``: ``value`` is the caller's value for that field
   (``None`` if not given) and ``data`` a read-only view of the incoming record (on update: the
   stored record merged with the caller's values), the same for every hook. The hook's return
   value becomes the field's value and is type-checked like the caller's. Running hooks before
   the required check lets a hook fill a required field (``role`` defaults to ``"USER"``).
5. **Required**: a field that is not ``.optional()`` must have a value.
6. **Validators** (``fn(user=, value=, data=)`` with ``data`` the final record): on create every
   validator of the type; on update those of the fields being written (given by the caller,
   set by a hook or set automatically). A false result refuses the write with its message.

Hooks and validators see arrays as tuples and ``data`` as a read-only mapping, so they cannot
change the record behind the store's back; they may be coroutines. One that raises is reported as
a ``RecordError`` for its field carrying the exception's message (the exception is chained).

A unique violation is reported naming the field (found by asking the database which value is
taken, never by parsing driver text). An update reads and writes the record in one locked
transaction (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so hooks
and validators see the record as it is written; they must therefore not write records
themselves. Records come back as plain dicts in declaration order: UUIDs as ``uuid.UUID``,
datetimes aware UTC, arrays as lists (stored as JSON lists).
"""

from __future__ import annotations

__all__ = ["Records"]

import enum
import inspect
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from types import MappingProxyType
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import MetaData, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.config.db import DbType
from authward.config.fields import Field
from authward.errors import AuthwardError, RecordError
from authward.principal import Principal, current_principal
from authward.store.engine import begin_write
from authward.store.type_tables import type_table

_INT64 = (-(2**63), 2**63 - 1)


class _Current(enum.Enum):
    """``user`` not passed: act as :func:`~authward.principal.current_principal`."""

    PRINCIPAL = enum.auto()


CURRENT = _Current.PRINCIPAL


class _Invalid(AuthwardError):
    """A value does not fit its field; the message is completed with the field's name."""


def _now() -> datetime:
    return datetime.now(UTC)


def _check_scalar(f: Field, value: object) -> object:
    """``value`` as stored for a non-array field of ``f``'s kind, or :class:`_Invalid`."""
    kind = f.kind
    got = type(value).__name__
    label = {"bool": "boolean"}.get(kind, kind)
    if kind == "string" or kind == "enum":
        if not isinstance(value, str):
            raise _Invalid(f"expected {label}, got {got}")
        if kind == "enum" and value not in f.values:
            raise _Invalid(f"{value!r} is not one of {', '.join(f.values)}")
        if "\x00" in value:
            raise _Invalid("text cannot contain NUL characters")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _Invalid(f"expected boolean, got {got}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"expected int, got {got}")
        if not _INT64[0] <= value <= _INT64[1]:
            raise _Invalid("int is out of range (64-bit)")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(f"expected float, got {got}")
        result = float(value)
        if not math.isfinite(result):
            raise _Invalid("float must be finite")
        return result
    if kind == "uuid":
        if isinstance(value, UUID):
            return value
        if isinstance(value, str):
            try:
                return UUID(value)
            except ValueError:
                raise _Invalid(f"{value!r} is not a UUID") from None
        raise _Invalid(f"expected uuid, got {got}")
    if kind == "datetime":
        if not isinstance(value, datetime):
            raise _Invalid(f"expected datetime, got {got}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise _Invalid("datetime must be timezone-aware")
        return value.astimezone(UTC)
    if kind == "date":
        if isinstance(value, datetime) or not isinstance(value, date):
            raise _Invalid(f"expected date, got {got}")
        return value
    if kind == "time":
        if not isinstance(value, time):
            raise _Invalid(f"expected time, got {got}")
        if value.tzinfo is not None:
            raise _Invalid("time must not carry a time zone")
        return value
    raise _Invalid(f"unsupported field kind {kind!r}")  # pragma: no cover - Field guards kinds


def _check(f: Field, value: object) -> object:
    """The stored form of ``value`` for field ``f`` (``None`` passes; required is separate)."""
    if value is None:
        return None
    if not f.array:
        return _check_scalar(f, value)
    if not isinstance(value, list | tuple):
        raise _Invalid(f"expected {f.type_label}, got {type(value).__name__}")
    items: list[object] = []
    for i, item in enumerate(value):
        if item is None:
            raise _Invalid(f"item {i}: expected {f.type_label[:-2]}, got None")
        try:
            items.append(_check_scalar(f, item))
        except _Invalid as exc:
            raise _Invalid(f"item {i}: {exc}") from None
    return items


def _json_item(item: object) -> object:
    if isinstance(item, UUID):
        return str(item)
    if isinstance(item, datetime | date | time):
        return item.isoformat()
    return item


_FROM_JSON: dict[str, Callable[[Any], object]] = {
    "uuid": UUID,
    "datetime": lambda s: datetime.fromisoformat(s).astimezone(UTC),
    "date": date.fromisoformat,
    "time": time.fromisoformat,
}


def _from_db(f: Field, value: object) -> object:
    if value is None:
        return None
    if f.array:
        if not isinstance(value, list):
            raise TypeError(f"expected a JSON list in the database, got {type(value).__name__}")
        convert = _FROM_JSON.get(f.kind)
        return [convert(v) for v in value] if convert else list(value)
    if f.kind == "uuid" and not isinstance(value, UUID):
        return UUID(str(value))
    return value


async def _call(fn: Callable[..., Any], user: Principal | None, value: object, data: object) -> Any:
    result = fn(user=user, value=value, data=data)
    if inspect.isawaitable(result):
        result = await result
    return result


class Records:
    """Create, read, update and delete the records of one db type."""

    def __init__(self, db_type: DbType, engine: AsyncEngine, table: Table | None = None) -> None:
        self.db_type = db_type
        self.engine = engine
        self.table = table if table is not None else type_table(db_type, MetaData())

    def __repr__(self) -> str:
        return f"Records({self.db_type.name!r})"

    # -- reading ---------------------------------------------------------------------------------

    async def get(self, id: UUID | str) -> dict[str, object] | None:
        """The record with this id, or ``None``."""
        key = self._id(id)
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(self.table).where(self.table.c.id == key)))
                .mappings()
                .first()
            )
        return self._record(row) if row is not None else None

    async def find(self, field: str, value: object) -> dict[str, object] | None:
        """The record whose ``field`` equals ``value`` (meant for unique fields; else the one
        with the lowest id), or ``None``. ``value=None`` finds a record where the field is empty.
        """
        f = self._field(field)
        if f.array:
            raise self._error(field, "cannot find records by an array field")
        checked = self._checked(field, value)
        column = self.table.c[field]
        condition = column.is_(None) if checked is None else column == checked
        query = select(self.table).where(condition).order_by(self.table.c.id).limit(1)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return self._record(row) if row is not None else None

    # -- writing ---------------------------------------------------------------------------------

    async def create(
        self, values: Mapping[str, object], *, user: Principal | _Current | None = CURRENT
    ) -> dict[str, object]:
        """Store a new record; returns it as stored. See the module docstring for the steps."""
        actor = current_principal() if user is CURRENT else user
        assert not isinstance(actor, _Current)
        self._refuse_unknown_and_auto(values)
        given = {name: self._checked(name, v) for name, v in values.items()}
        record_id = given.pop("id", None) or uuid.uuid4()
        now = _now()
        record: dict[str, object] = {"id": record_id}
        for name, f in self.db_type.fields.items():
            if name == "id":
                continue
            if f.auto == "create" or (f.auto == "update" and not f.is_optional):
                record[name] = now
            else:
                record[name] = given.get(name)
        record = await self._run_hooks("create", actor, given, record)
        self._require(record, list(self.db_type.fields))
        await self._validate(actor, record, list(self.db_type.fields))
        try:
            async with begin_write(self.engine) as conn:
                await conn.execute(insert(self.table).values(self._to_row(record)))
        except IntegrityError as exc:
            raise await self._conflict(record, list(record)) from exc
        return {name: record[name] for name in self.db_type.fields}

    async def update(
        self,
        id: UUID | str,
        values: Mapping[str, object],
        *,
        user: Principal | _Current | None = CURRENT,
    ) -> dict[str, object]:
        """Change the given fields of a record; returns the whole record as stored."""
        actor = current_principal() if user is CURRENT else user
        assert not isinstance(actor, _Current)
        key = self._id(id)
        self._refuse_unknown_and_auto(values)
        given = {name: self._checked(name, v) for name, v in values.items()}
        if "id" in given and given.pop("id") != key:
            raise self._error("id", "cannot be changed")
        record: dict[str, object] = {}
        fields: list[str] = []
        try:
            async with begin_write(self.engine) as conn:
                query = select(self.table).where(self.table.c.id == key)
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update()
                row = (await conn.execute(query)).mappings().first()
                if row is None:
                    raise self._error("id", f"no {self.db_type.name} with id {key}")
                record = self._record(row)
                written = set(given)
                now = _now()
                for name, f in self.db_type.fields.items():
                    if f.auto == "update":
                        record[name] = now
                        written.add(name)
                record.update(given)
                hooked = [n for n, h in self.db_type.field_hooks.items() if "update" in h]
                record = await self._run_hooks("update", actor, given, record)
                written.update(hooked)
                fields = [n for n in self.db_type.fields if n in written]
                self._require(record, fields)
                await self._validate(actor, record, fields)
                if fields:
                    changes = self._to_row({n: record[n] for n in fields})
                    await conn.execute(
                        update(self.table).where(self.table.c.id == key).values(changes)
                    )
        except IntegrityError as exc:
            raise await self._conflict(record, fields) from exc
        return record

    async def delete(self, id: UUID | str) -> bool:
        """Remove a record; ``False`` when there was none with this id."""
        key = self._id(id)
        async with begin_write(self.engine) as conn:
            result = await conn.execute(delete(self.table).where(self.table.c.id == key))
        return bool(result.rowcount)

    # -- steps -----------------------------------------------------------------------------------

    def _error(self, field: str, message: str) -> RecordError:
        return RecordError(self.db_type.name, field, message)

    def _field(self, name: str) -> Field:
        f = self.db_type.fields.get(name)
        if f is None:
            raise self._error(name, f"{self.db_type.name} has no such field")
        return f

    def _id(self, value: UUID | str) -> UUID:
        checked = self._checked("id", value)
        if not isinstance(checked, UUID):
            raise self._error("id", "expected uuid, got None")
        return checked

    def _checked(self, name: str, value: object) -> object:
        try:
            return _check(self._field(name), value)
        except _Invalid as exc:
            raise self._error(name, str(exc)) from None

    def _refuse_unknown_and_auto(self, values: Mapping[str, object]) -> None:
        for name in values:
            if self._field(name).auto is not None:
                raise self._error(name, "is set by the store and cannot be given")

    async def _run_hooks(
        self,
        op: Literal["create", "update"],
        actor: Principal | None,
        given: Mapping[str, object],
        record: dict[str, object],
    ) -> dict[str, object]:
        data = _read_only(record)
        result = dict(record)
        for name in self.db_type.fields:
            hook = self.db_type.field_hooks.get(name, {}).get(op)
            if hook is None:
                continue
            try:
                value = await _call(hook, actor, _data_value(given.get(name)), data)
            except Exception as exc:
                raise self._error(name, f"{op} hook failed: {_describe(exc)}") from exc
            try:
                result[name] = _check(self.db_type.fields[name], value)
            except _Invalid as exc:
                raise self._error(name, f"{op} hook returned a bad value: {exc}") from None
        return result

    def _require(self, record: Mapping[str, object], fields: list[str]) -> None:
        for name in fields:
            if record.get(name) is None and not self.db_type.fields[name].is_optional:
                raise self._error(name, "is required")

    async def _validate(
        self, actor: Principal | None, record: Mapping[str, object], fields: list[str]
    ) -> None:
        data = _read_only(record)
        for name in fields:
            for fn, message in self.db_type.validators.get(name, ()):
                try:
                    ok = await _call(fn, actor, data[name], data)
                except Exception as exc:
                    raise self._error(name, f"validator failed: {_describe(exc)}") from exc
                if not ok:
                    raise self._error(name, message)

    async def _conflict(self, record: Mapping[str, object], fields: list[str]) -> RecordError:
        """Which unique value is already taken; asked of the database, not read from ``exc``."""
        table, key = self.table, record["id"]
        candidates = [
            n
            for n in fields
            if record.get(n) is not None and (n == "id" or self.db_type.fields[n].is_unique)
        ]
        async with self.engine.connect() as conn:
            for name in candidates:
                column = table.c[name]
                query = select(table.c.id).where(column == self._to_row({name: record[name]})[name])
                if name != "id":
                    query = query.where(table.c.id != key)
                if (await conn.execute(query.limit(1))).first() is not None:
                    return self._error(name, "this value is already taken")
        named = ", ".join(candidates) or "record"
        return self._error(named, "conflicts with an existing record")

    def _to_row(self, record: Mapping[str, object]) -> dict[str, object]:
        row: dict[str, object] = {}
        for name, value in record.items():
            f = self.db_type.fields[name]
            row[name] = (
                [_json_item(v) for v in value] if f.array and isinstance(value, list) else value
            )
        return row

    def _record(self, row: Mapping[Any, Any]) -> dict[str, object]:
        return {name: _from_db(f, row.get(name)) for name, f in self.db_type.fields.items()}


def _data_value(value: object) -> object:
    """An array as hooks and validators see it: a tuple, so they cannot change the record."""
    return tuple(value) if isinstance(value, list) else value


def _read_only(record: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType({name: _data_value(v) for name, v in record.items()})


def _describe(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__
