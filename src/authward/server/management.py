"""The management API (``/v1``, OpenAPI at ``/v1/openapi.json``): API keys, for scripts and CI.

Off unless ``AUTHWARD_ADMIN_MACHINE_USERS`` names the machine users allowed to call it; each
call carries one of their access tokens (``authward machineuser token NAME``). Anyone else gets
401 or 403 before any handler runs.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations, which
# name dependencies defined inside ``management_app``.

__all__ = ["management_app"]

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import FastAPI, Query, Request, Response, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp

from authward.channel import AuthMiddleware, authward_tokens, exception_handlers
from authward.channel.api_keys import ApiKeyAuth, ApiKeyInfo
from authward.channel.fastapi import require
from authward.errors import ConfigError, Forbidden
from authward.principal import Principal
from authward.runtime import Authward


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    user_id: str | None = None
    org_id: str | None = None
    scopes: list[str] = Field(default_factory=list)
    expires_in_seconds: int | None = Field(default=None, ge=60)


class ApiKeyOut(BaseModel):
    id: UUID
    name: str
    hint: str
    user_id: str | None
    org_id: str | None
    scopes: list[str]
    status: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(BaseModel):
    key: str = Field(description="The secret: shown once, never stored.")
    id: UUID
    name: str
    user_id: str | None
    org_id: str | None
    scopes: list[str]
    expires_at: datetime | None


def _out(info: ApiKeyInfo) -> ApiKeyOut:
    return ApiKeyOut(
        id=info.id,
        name=info.name,
        hint=info.hint,
        user_id=info.user_id,
        org_id=info.org_id,
        scopes=list(info.scopes),
        status=info.status(),
        created_at=info.created_at,
        expires_at=info.expires_at,
        revoked_at=info.revoked_at,
        last_used_at=info.last_used_at,
    )


def _created(secret: str, auth: ApiKeyAuth) -> ApiKeyCreated:
    return ApiKeyCreated(
        key=secret,
        id=auth.key_id,
        name=auth.name,
        user_id=auth.user_id,
        org_id=auth.org_id,
        scopes=list(auth.scopes),
        expires_at=auth.expires_at,
    )


def management_app(aw: Authward) -> ASGIApp | None:
    """The ``/v1`` app, or ``None`` when no machine user may manage (the API is off)."""
    names = aw.settings.admin_machine_user_names
    if not names:
        return None
    unknown = [n for n in names if n not in aw.config.auth.machine_users]
    if unknown:
        raise ConfigError(
            f"names machine users the config does not define: {', '.join(unknown)}",
            path="AUTHWARD_ADMIN_MACHINE_USERS",
        )
    machine = require(principal_type="machine")

    async def admin(principal: Annotated[Principal, Security(machine)]) -> Principal:
        allowed = {str(m.id) for m in await aw.machine_users.list() if m.name in names}
        if principal.principal_id not in allowed:
            raise Forbidden("the management API is open only to AUTHWARD_ADMIN_MACHINE_USERS")
        return principal

    async def bad_request(_: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "invalid_request", "message": str(exc)}, status_code=400)

    Admin = Annotated[Principal, Security(admin)]
    api = FastAPI(
        title="authward management API",
        version="1",
        docs_url=None,
        redoc_url=None,
        exception_handlers={
            **exception_handlers(),
            ConfigError: bad_request,
        },
    )

    @api.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
    async def create_api_key(body: ApiKeyCreate, principal: Admin) -> ApiKeyCreated:
        expires_at = (
            datetime.now(UTC) + timedelta(seconds=body.expires_in_seconds)
            if body.expires_in_seconds
            else None
        )
        secret, auth = await aw.api_keys.create(
            body.name,
            user_id=body.user_id,
            org_id=body.org_id,
            scopes=body.scopes,
            expires_at=expires_at,
            actor=principal.principal_id,
        )
        return _created(secret, auth)

    @api.get("/api-keys", response_model=list[ApiKeyOut])
    async def list_api_keys(
        _: Admin,
        user_id: Annotated[str | None, Query()] = None,
        org_id: Annotated[str | None, Query()] = None,
        include_revoked: bool = False,
    ) -> list[ApiKeyOut]:
        keys = await aw.api_keys.list(
            user_id=user_id, org_id=org_id, include_revoked=include_revoked
        )
        return [_out(k) for k in keys]

    @api.delete("/api-keys/{key_id}", status_code=204)
    async def revoke_api_key(key_id: UUID, principal: Admin) -> Response:
        if await aw.api_keys.get(key_id) is None:
            return JSONResponse(
                {"error": "not_found", "message": "no such API key"}, status_code=404
            )
        await aw.api_keys.revoke(key_id, actor=principal.principal_id)
        return Response(status_code=204)

    return AuthMiddleware(
        api,
        auth=[authward_tokens(tokens=aw.verifier, accepts_token=["oauth_token"])],
        public_paths=["/openapi.json"],
    )
