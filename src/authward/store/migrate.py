"""Schema migrations (Alembic) plus the app's type tables, applied under one lock."""

from __future__ import annotations

__all__ = ["current_revision", "head_revision", "migrate", "require_current_schema"]

from collections.abc import Sequence

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.config.db import DbType
from authward.errors import StoreError
from authward.store.engine import opening, write_transaction
from authward.store.type_tables import sync_type_tables


def _alembic_config(conn: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "authward.store:migrations")
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(conn: Connection) -> str | None:
    heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


def _refuse_newer(conn: Connection) -> None:
    current = _current(conn)
    script = ScriptDirectory.from_config(_alembic_config())
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        raise StoreError(
            f"the database schema is at revision {current}, newer than this authward knows "
            f"(latest {head_revision()}): upgrade authward; nothing was changed"
        )


def _upgrade(conn: Connection, types: Sequence[DbType]) -> list[str]:
    _refuse_newer(conn)
    before = _current(conn)
    command.upgrade(_alembic_config(conn), "head")
    changes = (
        [] if before == head_revision() else [f"schema {before or 'empty'} -> {head_revision()}"]
    )
    return changes + sync_type_tables(conn, types)


async def migrate(engine: AsyncEngine, types: Sequence[DbType]) -> list[str]:
    """Apply pending migrations and type-table changes in one transaction; returns the changes."""
    async with opening(engine), write_transaction(engine) as conn:
        return await conn.run_sync(_upgrade, types)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def require_current_schema(engine: AsyncEngine) -> None:
    """For servers that must not migrate by themselves (PostgreSQL): refuse a stale schema."""
    async with opening(engine), engine.connect() as conn:
        await conn.run_sync(_refuse_newer)
        current = await conn.run_sync(_current)
    if current != head_revision():
        raise StoreError(
            f"the database schema is at {current or 'nothing'}, this authward needs "
            f"{head_revision()}: run `authward migrate`"
        )
