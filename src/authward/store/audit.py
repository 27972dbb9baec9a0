"""Audit events: who did what, when, from where. Never a secret in ``detail``."""

from __future__ import annotations

__all__ = ["AuditEvent", "AuditRecord", "AuditStore", "audit_rows"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.store.direct import Rows, insert_all
from authward.store.schema import audit_events


@dataclass(frozen=True, slots=True)
class AuditEvent:
    kind: str
    at: datetime
    actor: str | None = None
    subject: str | None = None
    client_id: str | None = None
    ip: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An event as stored, with its id (the order events were recorded in)."""

    id: int
    event: AuditEvent


# Built once: several requests record events, and building the statement each time costs more
# CPU than running it.
_INSERT = audit_events.insert()


def audit_rows(events: Sequence[AuditEvent]) -> Rows:
    """``events`` as rows for :func:`authward.store.direct.insert_all`, to write them in the
    transaction of other inserts."""
    return _INSERT, [_values(e) for e in events]


def _values(event: AuditEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "at": event.at,
        "actor": event.actor,
        "subject": event.subject,
        "client_id": event.client_id,
        "ip": event.ip,
        "detail": dict(event.detail),
    }


class AuditStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, event: AuditEvent, conn: AsyncConnection | None = None) -> None:
        await self.record_all([event], conn)

    async def record_all(
        self, events: Sequence[AuditEvent], conn: AsyncConnection | None = None
    ) -> None:
        """Record ``events`` in one statement, in ``conn``'s transaction or in one of their
        own."""
        if not events:
            return
        if conn is not None:
            await conn.execute(_INSERT, [_values(e) for e in events])
            return
        await insert_all(self._engine, [audit_rows(events)])

    async def recent(self, limit: int = 100, kind: str | None = None) -> list[AuditEvent]:
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(audit_events.c.kind == kind)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_event(r) for r in rows]

    async def page(
        self,
        *,
        before: int | None,
        limit: int,
        kind: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditRecord]:
        """Up to ``limit`` events, newest first, recorded before the event ``before`` (the
        last of the page before), that match every filter given: ``since`` inclusive,
        ``until`` exclusive."""
        c = audit_events.c
        query = select(audit_events).order_by(c.id.desc()).limit(limit)
        for column, value in ((c.kind, kind), (c.actor, actor), (c.subject, subject)):
            if value is not None:
                query = query.where(column == value)
        if before is not None:
            query = query.where(c.id < before)
        if since is not None:
            query = query.where(c.at >= since)
        if until is not None:
            query = query.where(c.at < until)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [AuditRecord(r["id"], _event(r)) for r in rows]

    async def get(self, event_id: int) -> AuditRecord | None:
        query = select(audit_events).where(audit_events.c.id == event_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return AuditRecord(row["id"], _event(row)) if row is not None else None


def _event(r: Any) -> AuditEvent:
    return AuditEvent(
        kind=r["kind"],
        at=r["at"],
        actor=r["actor"],
        subject=r["subject"],
        client_id=r["client_id"],
        ip=r["ip"],
        detail=r["detail"],
    )
