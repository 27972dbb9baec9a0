"""``last_used_at`` of the declared OAuth clients and machine users, written in batches
(:class:`authward.oauth.last_use.LastUses`)."""

from __future__ import annotations

__all__ = ["LastUseStore"]

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Table, Update, bindparam, or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.engine import begin_write, unusable
from authward.store.schema import machine_users, oauth2_clients


def _forward(table: Table) -> Update:
    # Never moves it backwards past a later use another process already wrote.
    return (
        update(table)
        .where(
            table.c.client_id == bindparam("b_client"),
            or_(table.c.last_used_at.is_(None), table.c.last_used_at < bindparam("b_at")),
        )
        .values(last_used_at=bindparam("b_at"))
    )


_TABLES = {"oauth2_client": oauth2_clients, "machine_user": machine_users}
_STATEMENTS = {kind: _forward(table) for kind, table in _TABLES.items()}


class LastUseStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record_uses(self, uses: Mapping[tuple[str, str], datetime]) -> None:
        """Move each (kind, client_id)'s ``last_used_at`` forward to its use, in one transaction;
        a :class:`~authward.errors.StoreError` when the database cannot take it."""
        by_kind: dict[str, list[dict[str, object]]] = {}
        for (kind, client_id), at in uses.items():
            if kind in _STATEMENTS:
                by_kind.setdefault(kind, []).append({"b_client": client_id, "b_at": at})
        if not by_kind:
            return
        try:
            async with begin_write(self._engine) as conn:
                for kind, rows in sorted(by_kind.items()):
                    await conn.execute(_STATEMENTS[kind], rows)
        except SQLAlchemyError as exc:
            raise unusable(self._engine, exc) from exc
