"""Every client the token endpoint authenticates, as stored: OAuth clients and machine users,
with their sealed secrets opened just long enough for the directory above to keep a digest."""

from __future__ import annotations

__all__ = ["ClientSecrets", "OpenedClient", "OpenedMachineUser"]

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.crypto.secretbox import SecretBox
from authward.store.direct import all_rows
from authward.store.principals import client_secret_aad, machine_secret_aad
from authward.store.records import StoredMachineUser
from authward.store.schema import machine_users, oauth2_clients

_CLIENTS = select(oauth2_clients)
_MACHINE_USERS = select(machine_users)


@dataclass(frozen=True, slots=True)
class OpenedClient:
    #: An ``aw_oauth2_clients`` row, read by column name.
    row: Any
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class OpenedMachineUser:
    machine_user: StoredMachineUser
    secret: str = field(repr=False)


class ClientSecrets:
    """Implements :class:`authward.oauth.clients.ClientSource`."""

    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    async def load(self) -> tuple[list[OpenedClient], list[OpenedMachineUser]]:
        client_rows, user_rows = await all_rows(
            self._engine, [(_CLIENTS, {}), (_MACHINE_USERS, {})]
        )
        box = self._box
        clients = [
            OpenedClient(r, box.open(r.client_secret, client_secret_aad(r.id)).decode())
            for r in client_rows
        ]
        users = [
            OpenedMachineUser(
                StoredMachineUser(
                    id=r.id,
                    name=r.name,
                    attributes=r.attributes,
                    attribute_list=tuple(r.attribute_list),
                    client_id=r.client_id,
                    created_at=r.created_at,
                ),
                box.open(r.client_secret, machine_secret_aad(r.id)).decode(),
            )
            for r in user_rows
        ]
        return clients, users
