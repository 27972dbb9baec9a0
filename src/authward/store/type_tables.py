"""The app's db types as real tables, created and extended without ever dropping data.

Additive changes are applied when the app is migrated: a new type becomes a table, a new field a
column. A new required field on a table that already has rows is refused (there is no value to
give the old rows); a removed field keeps its column and data. See docs/decisions/003.
"""

from __future__ import annotations

__all__ = ["sync_type_tables", "type_table", "type_tables"]

from collections.abc import Sequence
from typing import Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Float,
    MetaData,
    String,
    Table,
    Text,
    Time,
    Uuid,
    func,
    inspect,
    select,
)

from authward.config.db import DbType
from authward.config.fields import Field
from authward.errors import StoreError
from authward.store.types import UTCDateTime

_SCALAR: dict[str, Any] = {
    "string": Text,
    "bool": Boolean,
    "int": BigInteger,
    "float": Float,
    "enum": String(64),
    "uuid": Uuid,
    "datetime": UTCDateTime,
    "date": Date,
    "time": Time,
}


def _column(name: str, f: Field) -> Column[object]:
    if name == "id":
        return Column("id", Uuid, primary_key=True)
    col_type = JSON if f.array else _SCALAR[f.kind]
    return Column(name, col_type, nullable=f.is_optional, unique=f.is_unique)


def type_table(db_type: DbType, metadata: MetaData) -> Table:
    return Table(
        db_type.table_name,
        metadata,
        *(_column(name, f) for name, f in db_type.fields.items()),
    )


def type_tables(types: Sequence[DbType]) -> dict[str, Table]:
    metadata = MetaData()
    return {t.name: type_table(t, metadata) for t in types}


def sync_type_tables(conn: Connection, types: Sequence[DbType]) -> list[str]:
    """Bring the database up to the config's types; returns what changed, for the log."""
    changes: list[str] = []
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    for name, table in type_tables(types).items():
        if table.name not in existing:
            table.create(conn)
            changes.append(f"created table {table.name} for type {name}")
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in have]
        if not missing:
            continue
        rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
        for col in missing:
            if not col.nullable and rows:
                raise StoreError(
                    f"{name}.{col.name} is a new required field but table {table.name} has "
                    f"{rows} rows: make it .optional() (add it optional, fill it, then require it)"
                )
            # A fresh column without UNIQUE: SQLite cannot add one, so uniqueness is an index.
            ops = Operations(MigrationContext.configure(conn))
            ops.add_column(table.name, Column(col.name, col.type, nullable=col.nullable))
            if col.unique:
                ops.create_index(f"uq_{table.name}_{col.name}", table.name, [col.name], unique=True)
            changes.append(f"added column {table.name}.{col.name}")
    return changes
