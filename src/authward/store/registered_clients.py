"""The SQL of clients registered through RFC 7591 (``aw_registered_clients``, decision 049).

:class:`RegisteredClientStore` implements
:class:`authward.oauth.registration_ports.RegisteredClientStorePort`. Every write bumps the
table's change counter in its transaction, so the token view of every process sees a client
appear or go (store/changes.py). Config sync never reads or writes this table.
"""

from __future__ import annotations

__all__ = ["RegisteredClientRow", "RegisteredClientStore"]

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.audit import AuditEvent, AuditStore
from authward.store.changes import bump
from authward.store.engine import begin_write
from authward.store.schema import registered_clients as _t

_ALL = select(_t).order_by(_t.c.created_at, _t.c.client_id)


@dataclass(frozen=True, slots=True)
class RegisteredClientRow:
    client_id: str
    #: Hex SHA-256 of the client secret; ``None`` for a public client.
    secret_sha256: str | None
    token_endpoint_auth_method: str
    application_type: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    client_name: str | None
    logo_uri: str | None
    client_uri: str | None
    scope: str | None
    created_at: datetime


def _row(r: Any) -> RegisteredClientRow:
    return RegisteredClientRow(
        client_id=r["client_id"],
        secret_sha256=r["secret_sha256"],
        token_endpoint_auth_method=r["token_endpoint_auth_method"],
        application_type=r["application_type"],
        redirect_uris=tuple(r["redirect_uris"]),
        grant_types=tuple(r["grant_types"]),
        response_types=tuple(r["response_types"]),
        client_name=r["client_name"],
        logo_uri=r["logo_uri"],
        client_uri=r["client_uri"],
        scope=r["scope"],
        created_at=r["created_at"],
    )


def _values(row: RegisteredClientRow) -> dict[str, Any]:
    return {
        "client_id": row.client_id,
        "secret_sha256": row.secret_sha256,
        "token_endpoint_auth_method": row.token_endpoint_auth_method,
        "application_type": row.application_type,
        "redirect_uris": list(row.redirect_uris),
        "grant_types": list(row.grant_types),
        "response_types": list(row.response_types),
        "client_name": row.client_name,
        "logo_uri": row.logo_uri,
        "client_uri": row.client_uri,
        "scope": row.scope,
        "created_at": row.created_at,
    }


class RegisteredClientStore:
    def __init__(self, engine: AsyncEngine, audit: AuditStore) -> None:
        self._engine = engine
        self._audit = audit

    async def add(self, row: RegisteredClientRow, event: AuditEvent) -> None:
        """The client and its audit event, all or nothing."""
        async with begin_write(self._engine) as conn:
            await conn.execute(_t.insert().values(**_values(row)))
            await bump(conn, _t)
            await self._audit.record(event, conn)

    async def list(self) -> list[RegisteredClientRow]:
        async with self._engine.connect() as conn:
            return [_row(r) for r in (await conn.execute(_ALL)).mappings()]

    async def get(self, client_id: str) -> RegisteredClientRow | None:
        async with self._engine.connect() as conn:
            found = (await conn.execute(select(_t).where(_t.c.client_id == client_id))).mappings()
            row = found.first()
        return _row(row) if row is not None else None

    async def delete(self, client_id: str, event: AuditEvent) -> bool:
        """Remove the client (its audit event with it); ``False`` when there was none."""
        async with begin_write(self._engine) as conn:
            gone = await conn.execute(delete(_t).where(_t.c.client_id == client_id))
            if not gone.rowcount:
                return False
            await bump(conn, _t)
            await self._audit.record(event, conn)
        return True
