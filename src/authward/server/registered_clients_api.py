"""Clients registered through RFC 7591 in the management API (``/v1/registered-clients``), and
their JSON shape, which ``authward oauth2client registered ... --json`` prints too (decision 049).

Mounted by :func:`authward.server.management.management_app`, behind the same admin check.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.

__all__ = ["RegisteredClientAdmin", "RegisteredClientOut", "registered_client_out", "router"]

import builtins
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response, Security
from pydantic import BaseModel, Field

from authward.principal import Principal
from authward.server.api_inputs import PathText
from authward.server.management_errors import NotFound, error_responses
from authward.server.management_models import fill
from authward.server.management_ports import RegisteredClientAdmin
from authward.server.paging import Cursor, Limit, Page, page_of, time_key
from authward.store.registered_clients import RegisteredClientRow


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


def registered_client_out(row: RegisteredClientRow) -> RegisteredClientOut:
    return fill(RegisteredClientOut, row)


def router(clients: RegisteredClientAdmin, admin: Callable[..., Awaitable[Principal]]) -> APIRouter:
    """``admin``: the management API's dependency that lets only its machine users through."""
    Admin = Annotated[Principal, Security(admin)]
    routes = APIRouter(tags=["registered clients"])

    @routes.get(
        "/registered-clients",
        response_model=Page[RegisteredClientOut],
        responses=error_responses(400),
    )
    async def list_registered_clients(
        _: Admin, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[RegisteredClientOut]:
        """Clients that registered themselves (RFC 7591), oldest first."""
        items, following = page_of(
            "registered-clients",
            await clients.list(),
            key=lambda c: (
                time_key(c.created_at),
                c.client_id,
            ),
            cursor=cursor,
            limit=limit,
            types=[str, str],
        )
        return Page(items=[registered_client_out(c) for c in items], next_cursor=following)

    @routes.get(
        "/registered-clients/{client_id}",
        response_model=RegisteredClientOut,
        responses=error_responses(404),
    )
    async def get_registered_client(client_id: PathText, _: Admin) -> RegisteredClientOut:
        for c in await clients.list():
            if c.client_id == client_id:
                return registered_client_out(c)
        raise NotFound(f"no registered client {client_id!r}")

    @routes.delete(
        "/registered-clients/{client_id}", status_code=204, responses=error_responses(404)
    )
    async def revoke_registered_client(client_id: PathText, principal: Admin) -> Response:
        """Remove the client and end every grant it holds: its refresh tokens and the access
        tokens issued from them are refused from now on."""
        if not await clients.revoke(client_id, actor=principal.principal_id):
            raise NotFound(f"no registered client {client_id!r}")
        return Response(status_code=204)

    return routes
