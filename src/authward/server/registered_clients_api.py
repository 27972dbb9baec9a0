"""Clients registered through RFC 7591 in the management API (``/v1/registered-clients``), and
their JSON shape, which ``authward oauth2client registered ... --json`` prints too (decision 049).

Mounted by :func:`authward.server.management.management_app`, behind the same admin check.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.

__all__ = ["RegisteredClientAdmin", "RegisteredClientOut", "registered_client_out", "router"]

import builtins
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Protocol

from fastapi import APIRouter, Response, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from authward.principal import Principal
from authward.server.api_inputs import PathText
from authward.store.registered_clients import RegisteredClientRow


class RegisteredClientAdmin(Protocol):
    """What the routes call of :class:`authward.oauth.registration.DynamicClients`."""

    async def list(self) -> Sequence[RegisteredClientRow]: ...
    async def revoke(self, client_id: str, *, actor: str | None = None) -> bool: ...


class RegisteredClientOut(BaseModel):
    """A registered client as listings show it: never a secret."""

    client_id: str
    client_name: str | None
    application_type: str = Field(description="web or native")
    token_endpoint_auth_method: str = Field(
        description="none (public) or client_secret_basic / client_secret_post"
    )
    redirect_uris: builtins.list[str]
    grant_types: builtins.list[str]
    client_uri: str | None
    logo_uri: str | None
    scope: str | None
    created_at: datetime


class RefusalOut(BaseModel):
    error: str
    message: str


def registered_client_out(row: RegisteredClientRow) -> RegisteredClientOut:
    return RegisteredClientOut(
        client_id=row.client_id,
        client_name=row.client_name,
        application_type=row.application_type,
        token_endpoint_auth_method=row.token_endpoint_auth_method,
        redirect_uris=list(row.redirect_uris),
        grant_types=list(row.grant_types),
        client_uri=row.client_uri,
        logo_uri=row.logo_uri,
        scope=row.scope,
        created_at=row.created_at,
    )


def router(clients: RegisteredClientAdmin, admin: Callable[..., Awaitable[Principal]]) -> APIRouter:
    """``admin``: the management API's dependency that lets only its machine users through."""
    Admin = Annotated[Principal, Security(admin)]
    routes = APIRouter(tags=["registered clients"])

    @routes.get("/registered-clients", response_model=list[RegisteredClientOut])
    async def list_registered_clients(_: Admin) -> list[RegisteredClientOut]:
        """Clients that registered themselves (RFC 7591), oldest first."""
        return [registered_client_out(c) for c in await clients.list()]

    @routes.delete(
        "/registered-clients/{client_id}",
        status_code=204,
        responses={404: {"model": RefusalOut}},
    )
    async def revoke_registered_client(client_id: PathText, principal: Admin) -> Response:
        """Remove the client and end every grant it holds: its refresh tokens and the access
        tokens issued from them are refused from now on."""
        if not await clients.revoke(client_id, actor=principal.principal_id):
            return JSONResponse(
                {"error": "not_found", "message": f"no registered client {client_id!r}"},
                status_code=404,
            )
        return Response(status_code=204)

    return routes
