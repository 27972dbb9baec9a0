"""What the config declares, in the management API: its OAuth clients (``/v1/clients``) and
machine users (``/v1/machine-users``), as ``authward serve`` synced them to the store. They
change by editing the config (``define_auth``); what the API changes is their secret, shown once
by the rotation that makes it and never listed (``authward oauth2client get`` / ``machineuser
get`` print it to whoever holds the instance key).

Mounted by :func:`authward.server.management.management_app`, behind the same admin check.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.

__all__ = ["directory_router"]

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Security
from pydantic import BaseModel, Field

from authward.principal import Principal
from authward.server.api_inputs import PathText
from authward.server.management_errors import NotFound, error_responses
from authward.server.management_models import fill
from authward.server.management_ports import ClientList, MachineUserList, SecretRotator
from authward.server.paging import Cursor, Limit, Page, page_of
from authward.store.records import StoredClient, StoredMachineUser

_LAST_USED = (
    "When the token endpoint last issued it tokens (written in batches, so up to "
    "AUTHWARD_CACHE_REFRESH_SECONDS behind); null when never."
)


class ClientOut(BaseModel):
    """An OAuth client of ``define_auth(oauth2_clients=...)``: never its secret."""

    id: UUID
    name: str = Field(description="its name in the config")
    client_id: str
    description: str
    redirect_uris: list[str]
    grant_types: list[str]
    access_token_lifetime_seconds: int | None
    refresh_token_lifetime_seconds: int | None
    require_dpop: bool
    created_at: datetime
    last_used_at: datetime | None = Field(None, description=_LAST_USED)


class MachineUserOut(BaseModel):
    """A machine user of ``define_auth(machine_users=...)``: never its secret."""

    id: UUID
    name: str
    client_id: str
    attributes: dict[str, Any]
    attribute_list: list[str]
    created_at: datetime
    last_used_at: datetime | None = Field(None, description=_LAST_USED)


class SecretOut(BaseModel):
    client_id: str
    client_secret: str = Field(description="The new secret: shown once, stored sealed.")


def _client_out(c: StoredClient) -> ClientOut:
    return fill(ClientOut, c)


def _machine_out(m: StoredMachineUser) -> MachineUserOut:
    return fill(MachineUserOut, m)


def directory_router(
    clients: ClientList,
    machine_users: MachineUserList,
    rotation: SecretRotator,
    admin: Callable[..., Awaitable[Principal]],
) -> APIRouter:
    """``admin``: the management API's dependency that lets only its machine users through."""
    Admin = Annotated[Principal, Security(admin)]
    router = APIRouter(tags=["declared clients and machine users"])

    @router.get("/clients", response_model=Page[ClientOut], responses=error_responses(400))
    async def list_clients(_: Admin, limit: Limit = 50, cursor: Cursor = None) -> Page[ClientOut]:
        """The OAuth clients the config declares, by name (registered ones:
        ``/registered-clients``)."""
        items, following = page_of(
            "clients",
            await clients.list(),
            key=lambda c: (c.name,),
            cursor=cursor,
            limit=limit,
            types=[str],
        )
        return Page(items=[_client_out(c) for c in items], next_cursor=following)

    @router.get("/clients/{name}", response_model=ClientOut, responses=error_responses(404))
    async def get_client(name: PathText, _: Admin) -> ClientOut:
        """One declared client, by its name in the config or its ``client_id``."""
        for c in await clients.list():
            if name in (c.name, c.client_id):
                return _client_out(c)
        raise NotFound(f"the config declares no OAuth client {name!r}")

    @router.post("/clients/{name}/secret", response_model=SecretOut, responses=error_responses(404))
    async def rotate_client_secret(name: PathText, principal: Admin) -> SecretOut:
        """A new secret for the declared client ``name`` (``client.secret_rotated``). The old
        one is refused at once by this server, by the others within
        ``AUTHWARD_CACHE_REFRESH_SECONDS``; tokens issued before stay valid until they
        expire."""
        rotated = await rotation.rotate_client(name, actor=principal.principal_id)
        if rotated is None:
            raise NotFound(f"the config declares no OAuth client {name!r}")
        return SecretOut(client_id=rotated.client_id, client_secret=rotated.client_secret)

    @router.get(
        "/machine-users", response_model=Page[MachineUserOut], responses=error_responses(400)
    )
    async def list_machine_users(
        _: Admin, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[MachineUserOut]:
        """The machine users the config declares, by name."""
        items, following = page_of(
            "machine-users",
            await machine_users.list(),
            key=lambda m: (m.name,),
            cursor=cursor,
            limit=limit,
            types=[str],
        )
        return Page(items=[_machine_out(m) for m in items], next_cursor=following)

    @router.get(
        "/machine-users/{name}", response_model=MachineUserOut, responses=error_responses(404)
    )
    async def get_machine_user(name: PathText, _: Admin) -> MachineUserOut:
        """One machine user, by name, id or ``client_id``."""
        for m in await machine_users.list():
            if name in (m.name, str(m.id), m.client_id):
                return _machine_out(m)
        raise NotFound(f"the config declares no machine user {name!r}")

    @router.post(
        "/machine-users/{name}/secret", response_model=SecretOut, responses=error_responses(404)
    )
    async def rotate_machine_user_secret(name: PathText, principal: Admin) -> SecretOut:
        """A new secret for the machine user ``name`` (``machine_user.secret_rotated``), as for
        a client. Rotating the caller's own secret does not end the token it called with."""
        rotated = await rotation.rotate_machine_user(name, actor=principal.principal_id)
        if rotated is None:
            raise NotFound(f"the config declares no machine user {name!r}")
        return SecretOut(client_id=rotated.client_id, client_secret=rotated.client_secret)

    return router
