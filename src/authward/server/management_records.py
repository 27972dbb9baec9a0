"""Connected accounts (``/v1/connections``) and the audit log (``/v1/audit-events``) in the
management API.

Mounted by :func:`authward.server.management.management_app`, behind the same admin check.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.

__all__ = ["records_router"]

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, Security
from pydantic import BaseModel, Field

from authward.connections.values import ConnectionInfo
from authward.principal import Principal
from authward.server.api_inputs import PathText, QueryText
from authward.server.management_errors import BadRequest, NotFound, error_responses
from authward.server.management_models import fill
from authward.server.management_ports import AuditReader, ConnectionAdmin
from authward.server.paging import Cursor, Limit, Page, after, read_page
from authward.store.audit import AuditRecord

#: The largest id an audit event can have (a BIGINT).
_MAX_EVENT_ID = 2**63 - 1


class ConnectionOut(BaseModel):
    """A connected account: never its tokens."""

    id: str
    provider: str
    kind: Literal["account", "developer"] = Field(
        description="account: one account's; developer: the app's own credentials"
    )
    account_id: str | None
    external_id: str | None = Field(description="the account's id at the provider")
    label: str | None
    scopes: list[str]
    expires_at: datetime | None
    has_refresh_token: bool
    status: str
    broken_reason: str | None
    created_at: datetime
    updated_at: datetime


class AuditEventOut(BaseModel):
    id: int = Field(description="events are numbered in the order they were recorded")
    kind: str = Field(description='e.g. "user.created", "session.revoked"')
    at: datetime
    actor: str | None = Field(description="who acted: a user or machine user id, or none")
    subject: str | None = Field(description="what it acted on")
    client_id: str | None
    ip: str | None
    detail: dict[str, Any]


def _utc(value: datetime | None, name: str) -> datetime | None:
    """A query's time in UTC; one without a zone is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise BadRequest(f"{name}: {value.isoformat()} is out of range in UTC") from None


def _connection_out(c: ConnectionInfo) -> ConnectionOut:
    return ConnectionOut(**c.as_dict())


def _event_out(r: AuditRecord) -> AuditEventOut:
    return fill(AuditEventOut, r.event, id=r.id)


def _connection_key(c: ConnectionInfo) -> tuple[str, ...]:
    return (c.account_id, c.provider, c.kind, c.id)


def records_router(
    connections: ConnectionAdmin,
    audit: AuditReader,
    admin: Callable[..., Awaitable[Principal]],
) -> APIRouter:
    """``admin``: the management API's dependency that lets only its machine users through."""
    Admin = Annotated[Principal, Security(admin)]
    router = APIRouter()

    # -- connected accounts ---------------------------------------------------------------------

    @router.get(
        "/connections",
        response_model=Page[ConnectionOut],
        responses=error_responses(400),
        tags=["connections"],
    )
    async def list_connections(
        _: Admin,
        account_id: QueryText = None,
        provider: QueryText = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[ConnectionOut]:
        """Connected accounts by account and provider (of one account, of one provider)."""
        start = after("connections", cursor, [str, str, str, str])
        found = await connections.list(
            account_id,
            provider=provider,
            after=(str(start[0]), str(start[1]), str(start[2]), str(start[3])) if start else None,
            limit=limit + 1,
        )
        return read_page("connections", found, limit, _connection_key, _connection_out)

    @router.get(
        "/connections/{connection_id}",
        response_model=ConnectionOut,
        responses=error_responses(404),
        tags=["connections"],
    )
    async def get_connection(connection_id: PathText, _: Admin) -> ConnectionOut:
        found = await connections.get(connection_id)
        if found is None:
            raise NotFound(f"no connection {connection_id!r}")
        return _connection_out(found)

    @router.delete(
        "/connections/{connection_id}",
        status_code=204,
        responses=error_responses(404),
        tags=["connections"],
    )
    async def revoke_connection(connection_id: PathText, principal: Admin) -> Response:
        """Disconnect: revoke its tokens at the provider when it can (best effort), then remove
        it (``connection.removed``). Jobs acting for the account can no longer call the
        provider."""
        found = await connections.get(connection_id)
        if found is None:
            raise NotFound(f"no connection {connection_id!r}")
        await connections.disconnect(
            found.account_id, found.provider, kind=found.kind, actor=principal.principal_id
        )
        return Response(status_code=204)

    # -- the audit log --------------------------------------------------------------------------

    @router.get(
        "/audit-events",
        response_model=Page[AuditEventOut],
        responses=error_responses(400),
        tags=["audit log"],
    )
    async def list_audit_events(
        _: Admin,
        kind: QueryText = None,
        actor: QueryText = None,
        subject: QueryText = None,
        since: Annotated[datetime | None, Query(description="from this time on")] = None,
        until: Annotated[datetime | None, Query(description="before this time")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[AuditEventOut]:
        """Audit events, newest first, of one ``kind``, ``actor`` and ``subject`` and within
        ``since`` and ``until`` when given. A time without a zone is UTC."""
        start = after("audit-events", cursor, [int])
        found = await audit.page(
            before=int(start[0]) if start else None,
            limit=limit + 1,
            kind=kind,
            actor=actor,
            subject=subject,
            since=_utc(since, "since"),
            until=_utc(until, "until"),
        )
        return read_page("audit-events", found, limit, lambda r: (r.id,), _event_out)

    @router.get(
        "/audit-events/{event_id}",
        response_model=AuditEventOut,
        responses=error_responses(404),
        tags=["audit log"],
    )
    async def get_audit_event(
        event_id: Annotated[int, Path(ge=1, le=_MAX_EVENT_ID)], _: Admin
    ) -> AuditEventOut:
        found = await audit.get(event_id)
        if found is None:
            raise NotFound(f"no audit event {event_id}")
        return _event_out(found)

    return router
