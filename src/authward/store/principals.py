"""Machine users and OAuth 2.0 clients as synced from the config, with sealed client secrets."""

from __future__ import annotations

__all__ = ["ClientStore", "MachineUserStore", "client_secret_aad", "machine_secret_aad"]

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.crypto.secretbox import SecretBox
from authward.store.audit import AuditEvent, audit_rows
from authward.store.direct import first_row
from authward.store.engine import begin_write
from authward.store.records import StoredClient, StoredMachineUser
from authward.store.schema import machine_users, oauth2_clients

#: Makes a rotation's audit event from the row's ``client_id``.
RotationEvent = Callable[[str], AuditEvent]

# Built once: every token minted for a machine user by name reads it (decision 043).
_MACHINE_USER = select(machine_users).where(machine_users.c.name == bindparam("name"))


def machine_secret_aad(row_id: object) -> str:
    return f"aw_machine_users.client_secret:{row_id}"


def client_secret_aad(row_id: object) -> str:
    return f"aw_oauth2_clients.client_secret:{row_id}"


def _machine_user(r: Any) -> StoredMachineUser:
    return StoredMachineUser(
        id=r["id"],
        name=r["name"],
        attributes=r["attributes"],
        attribute_list=tuple(r["attribute_list"]),
        client_id=r["client_id"],
        created_at=r["created_at"],
        last_used_at=r.get("last_used_at"),
    )


def _client(r: Any) -> StoredClient:
    return StoredClient(
        id=r["id"],
        name=r["name"],
        client_id=r["client_id"],
        description=r["description"],
        redirect_uris=tuple(r["redirect_uris"]),
        grant_types=tuple(r["grant_types"]),
        access_token_lifetime_seconds=r["access_token_lifetime_seconds"],
        refresh_token_lifetime_seconds=r["refresh_token_lifetime_seconds"],
        require_dpop=r["require_dpop"],
        created_at=r["created_at"],
        last_used_at=r.get("last_used_at"),
    )


async def _rotate(
    engine: AsyncEngine,
    box: SecretBox,
    table: Table,
    aad: Callable[[object], str],
    name: str,
    secret: str,
    now: datetime,
    event: RotationEvent,
) -> str | None:
    """Seal ``secret`` as the named row's new client secret, with its audit event, in one
    transaction: the row's ``client_id``, or None when no row has this name."""
    async with begin_write(engine) as conn:
        query = select(table.c.id, table.c.client_id).where(table.c.name == name)
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        await conn.execute(
            update(table)
            .where(table.c.id == row.id)
            .values(client_secret=box.seal(secret.encode(), aad(row.id)), updated_at=now)
        )
        statement, rows = audit_rows([event(row.client_id)])
        await conn.execute(statement, rows)
        return str(row.client_id)


class MachineUserStore:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    async def list(self) -> list[StoredMachineUser]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(machine_users).order_by(machine_users.c.name))
            return [_machine_user(r) for r in rows.mappings()]

    async def get(self, name: str) -> StoredMachineUser | None:
        row = await first_row(self._engine, _MACHINE_USER, {"name": name})
        return _machine_user(row._asdict()) if row is not None else None

    async def client_secret(self, name: str) -> SecretStr | None:
        query = select(machine_users.c.id, machine_users.c.client_secret).where(
            machine_users.c.name == name
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return SecretStr(self._box.open(row.client_secret, machine_secret_aad(row.id)).decode())

    async def rotate_secret(
        self, name: str, secret: str, now: datetime, event: RotationEvent
    ) -> str | None:
        """The machine user's new secret (the old one stops working); its ``client_id``, or
        None when there is no such machine user."""
        return await _rotate(
            self._engine, self._box, machine_users, machine_secret_aad, name, secret, now, event
        )


class ClientStore:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    async def list(self) -> list[StoredClient]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(oauth2_clients).order_by(oauth2_clients.c.name))
            return [_client(r) for r in rows.mappings()]

    async def get(self, name: str) -> StoredClient | None:
        query = select(oauth2_clients).where(oauth2_clients.c.name == name)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _client(row) if row else None

    async def client_secret(self, name: str) -> SecretStr | None:
        query = select(oauth2_clients.c.id, oauth2_clients.c.client_secret).where(
            oauth2_clients.c.name == name
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return SecretStr(self._box.open(row.client_secret, client_secret_aad(row.id)).decode())

    async def rotate_secret(
        self, name: str, secret: str, now: datetime, event: RotationEvent
    ) -> str | None:
        """The client's new secret (the old one stops working); its ``client_id``, or None when
        the config declares no such client."""
        return await _rotate(
            self._engine, self._box, oauth2_clients, client_secret_aad, name, secret, now, event
        )
