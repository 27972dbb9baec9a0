"""The management API (``/v1``, OpenAPI at ``/v1/openapi.json``): API keys, organizations and
their members, users' sessions, jobs and runs, and registered clients, for scripts and CI.

Off unless ``AUTHWARD_ADMIN_MACHINE_USERS`` names the machine users allowed to call it; each
call carries one of their access tokens (``authward machineuser token NAME``). Anyone else gets
401 or 403 before any handler runs.

The services' errors become responses in one place (``_ERRORS``): a broken rule
(:class:`~authward.errors.ConfigError`) is 400 ``invalid_request``, something that does not exist
is 404 ``not_found``, a clash with the store's state (a slug taken) is 409 ``conflict``.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations, which
# name dependencies defined inside ``management_app``.

__all__ = ["management_app"]

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import FastAPI, Request, Response, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from authward.channel import AuthMiddleware, authward_tokens, exception_handlers
from authward.channel.authenticate import ProofVerifier, TokenVerifier
from authward.channel.fastapi import require
from authward.errors import AuthwardError, ConfigError, Forbidden
from authward.identity.api_keys import ApiKeyAuth, ApiKeyInfo
from authward.identity.orgs import (
    Membership,
    Organization,
    OrganizationConflict,
    OrganizationError,
    OrganizationNotFound,
)
from authward.identity.sessions import SessionInfo
from authward.principal import Principal
from authward.server.api_inputs import BodyText, PathText, QueryText
from authward.server.jobs_api import JobsAdmin, jobs_router
from authward.server.management_ports import (
    ApiKeyAdmin,
    MachineUserList,
    ManagedSessions,
    OrganizationAdmin,
)
from authward.server.registered_clients_api import RegisteredClientAdmin
from authward.server.registered_clients_api import router as registered_clients_router


class NotFound(AuthwardError):
    """What a path names does not exist (404 ``not_found``)."""

    code = "not_found"


#: Error class -> (status, ``error``). The most specific class in an exception's MRO wins.
_ERRORS: dict[type[Exception], tuple[int, str]] = {
    ConfigError: (400, "invalid_request"),
    NotFound: (404, "not_found"),
    OrganizationNotFound: (404, "not_found"),
    OrganizationConflict: (409, "conflict"),
    # Any other refusal of the organizations' state is a conflict with it.
    OrganizationError: (409, "conflict"),
}


#: The longest lifetime an API key may be created with (ten years).
MAX_KEY_SECONDS = 10 * 365 * 86_400
#: The ``error`` of a refusal Starlette or FastAPI raise themselves (a body that is not JSON,
#: a path or method no route has).
_HTTP_ERRORS = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}


class ErrorOut(BaseModel):
    error: str = Field(description="invalid_request, not_found or conflict")
    message: str


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer."""
    return {status: {"model": ErrorOut} for status in statuses}


class ApiKeyCreate(BaseModel):
    name: BodyText = Field(min_length=1, max_length=200)
    user_id: BodyText | None = None
    org_id: BodyText | None = Field(
        default=None,
        description="an existing organization's id or slug (the key records its id)",
    )
    scopes: list[BodyText] = Field(default_factory=list)
    #: Bounded: a huge lifetime overflowed the expiry time (a 500 instead of a 422).
    expires_in_seconds: int | None = Field(default=None, ge=60, le=MAX_KEY_SECONDS)


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


class OrganizationCreate(BaseModel):
    slug: BodyText = Field(description="1 to 64 lower-case letters, digits and '-'; unique")
    name: BodyText


class OrganizationOut(BaseModel):
    id: str
    slug: str
    name: str
    created_at: datetime
    updated_at: datetime


class MemberRoleIn(BaseModel):
    role: BodyText = Field(description="a role of define_auth(organization_roles=...)")


class MembershipOut(BaseModel):
    org_id: str
    org_slug: str
    user_id: str
    role: str
    permissions: list[str] = Field(description="the role's permissions in the config in force")
    created_at: datetime
    updated_at: datetime


class SessionOut(BaseModel):
    """A session as listings show it: never its secret."""

    id: str
    user_id: str
    active_org_id: str | None
    claims: dict[str, Any]
    ip: str | None
    user_agent: str | None
    status: str
    created_at: datetime
    last_active_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class SessionsRevoked(BaseModel):
    revoked: int = Field(description="how many active sessions ended")


def _org_out(org: Organization) -> OrganizationOut:
    return OrganizationOut(
        id=org.id,
        slug=org.slug,
        name=org.name,
        created_at=org.created_at,
        updated_at=org.updated_at,
    )


def _member_out(m: Membership) -> MembershipOut:
    return MembershipOut(
        org_id=m.org_id,
        org_slug=m.org_slug,
        user_id=m.user_id,
        role=m.role,
        permissions=list(m.permissions),
        created_at=m.created_at,
        updated_at=m.updated_at,
    )


def _session_out(info: SessionInfo) -> SessionOut:
    return SessionOut(
        id=info.id,
        user_id=info.user_id,
        active_org_id=info.active_org_id,
        claims=dict(info.claims),
        ip=info.ip,
        user_agent=info.user_agent,
        status=info.status(),
        created_at=info.created_at,
        last_active_at=info.last_active_at,
        expires_at=info.expires_at,
        revoked_at=info.revoked_at,
    )


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


def management_app(
    *,
    admins: tuple[str, ...],
    defined_machine_users: Collection[str],
    machine_users: MachineUserList,
    api_keys: ApiKeyAdmin,
    organizations: OrganizationAdmin,
    sessions: ManagedSessions,
    jobs: JobsAdmin,
    registered_clients: RegisteredClientAdmin,
    verifier: TokenVerifier,
    dpop: ProofVerifier,
) -> ASGIApp | None:
    """The ``/v1`` app, or ``None`` when no machine user may manage (the API is off).
    ``admins``: ``AUTHWARD_ADMIN_MACHINE_USERS``; each must be one of ``defined_machine_users``
    (the config's)."""
    names = admins
    if not names:
        return None
    unknown = [n for n in names if n not in defined_machine_users]
    if unknown:
        raise ConfigError(
            f"names machine users the config does not define: {', '.join(unknown)}",
            path="AUTHWARD_ADMIN_MACHINE_USERS",
        )
    machine = require(principal_type="machine")

    async def admin(principal: Annotated[Principal, Security(machine)]) -> Principal:
        allowed = {str(m.id) for m in await machine_users.list() if m.name in names}
        if principal.principal_id not in allowed:
            raise Forbidden("the management API is open only to AUTHWARD_ADMIN_MACHINE_USERS")
        return principal

    async def refused(_: Request, exc: Exception) -> Response:
        status, error = next(_ERRORS[c] for c in type(exc).__mro__ if c in _ERRORS)
        return JSONResponse({"error": error, "message": str(exc)}, status_code=status)

    async def http_refused(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error = _HTTP_ERRORS.get(exc.status_code, "invalid_request")
        return JSONResponse(
            {"error": error, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    Admin = Annotated[Principal, Security(admin)]
    api = FastAPI(
        title="authward management API",
        version="1",
        docs_url=None,
        redoc_url=None,
        # Any request can be malformed: a path with a control character, a body it cannot read.
        responses=_errors(400),
        exception_handlers={
            **exception_handlers(),
            **dict.fromkeys(_ERRORS, refused),
            HTTPException: http_refused,
        },
    )

    # -- API keys -------------------------------------------------------------------------------

    @api.post("/api-keys", status_code=201, response_model=ApiKeyCreated, responses=_errors(400))
    async def create_api_key(body: ApiKeyCreate, principal: Admin) -> ApiKeyCreated:
        expires_at = (
            datetime.now(UTC) + timedelta(seconds=body.expires_in_seconds)
            if body.expires_in_seconds
            else None
        )
        secret, auth = await api_keys.create(
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
        user_id: QueryText = None,
        org_id: QueryText = None,
        include_revoked: bool = False,
    ) -> list[ApiKeyOut]:
        keys = await api_keys.list(user_id=user_id, org_id=org_id, include_revoked=include_revoked)
        return [_out(k) for k in keys]

    @api.delete("/api-keys/{key_id}", status_code=204, responses=_errors(404))
    async def revoke_api_key(key_id: UUID, principal: Admin) -> Response:
        if await api_keys.get(key_id) is None:
            raise NotFound("no such API key")
        await api_keys.revoke(key_id, actor=principal.principal_id)
        return Response(status_code=204)

    # -- organizations --------------------------------------------------------------------------

    async def existing_org(org: PathText) -> Organization:
        found = await organizations.get(org)
        if found is None:
            raise NotFound(f"no organization {org!r} (give its id or its slug)")
        return found

    @api.post(
        "/organizations",
        status_code=201,
        response_model=OrganizationOut,
        responses=_errors(400, 409),
    )
    async def create_organization(body: OrganizationCreate, principal: Admin) -> OrganizationOut:
        org = await organizations.create(body.slug, body.name, actor=principal.principal_id)
        return _org_out(org)

    @api.get("/organizations", response_model=list[OrganizationOut])
    async def list_organizations(_: Admin) -> list[OrganizationOut]:
        return [_org_out(o) for o in await organizations.list()]

    @api.get("/organizations/{org}", response_model=OrganizationOut, responses=_errors(404))
    async def get_organization(org: PathText, _: Admin) -> OrganizationOut:
        return _org_out(await existing_org(org))

    @api.delete("/organizations/{org}", status_code=204, responses=_errors(404))
    async def delete_organization(org: PathText, principal: Admin) -> Response:
        """Delete the organization and its memberships, and revoke its API keys."""
        if not await organizations.delete(org, actor=principal.principal_id):
            raise NotFound(f"no organization {org!r} (give its id or its slug)")
        return Response(status_code=204)

    @api.get(
        "/organizations/{org}/members",
        response_model=list[MembershipOut],
        responses=_errors(404),
    )
    async def list_members(org: PathText, _: Admin) -> list[MembershipOut]:
        return [_member_out(m) for m in await organizations.members(org)]

    @api.put(
        "/organizations/{org}/members/{user_id}",
        response_model=MembershipOut,
        responses={201: {"model": MembershipOut}, **_errors(400, 404)},
    )
    async def put_member(
        org: PathText, user_id: PathText, body: MemberRoleIn, principal: Admin, response: Response
    ) -> MembershipOut:
        """Make the user a member with this role (201), or change the member's role (200)."""
        found = await existing_org(org)
        actor = principal.principal_id
        if await organizations.member(found.id, user_id) is None:
            try:
                added = await organizations.add_member(found.id, user_id, body.role, actor=actor)
            except OrganizationConflict:
                pass  # added meanwhile by someone else: change the role below instead
            else:
                response.status_code = 201
                return _member_out(added)
        changed = await organizations.set_role(found.id, user_id, body.role, actor=actor)
        return _member_out(changed)

    @api.delete("/organizations/{org}/members/{user_id}", status_code=204, responses=_errors(404))
    async def remove_member(org: PathText, user_id: PathText, principal: Admin) -> Response:
        found = await existing_org(org)
        if not await organizations.remove_member(found.id, user_id, actor=principal.principal_id):
            raise NotFound(f"{user_id!r} is not a member of {found.slug!r}")
        return Response(status_code=204)

    # -- sessions -------------------------------------------------------------------------------

    @api.get("/users/{user_id}/sessions", response_model=list[SessionOut])
    async def list_sessions(
        user_id: PathText, _: Admin, include_inactive: bool = False
    ) -> list[SessionOut]:
        """The user's active sessions, newest first (revoked and expired ones too with
        ``include_inactive``). Never their secrets."""
        found = await sessions.list(user_id, include_inactive=include_inactive)
        return [_session_out(s) for s in found]

    @api.delete("/sessions/{session_id}", status_code=204, responses=_errors(404))
    async def revoke_session(session_id: PathText, principal: Admin) -> Response:
        """Sign the session out: its tokens are refused at once by this server."""
        if await sessions.get(session_id) is None:
            raise NotFound("no such session")
        await sessions.revoke(session_id, actor=principal.principal_id)
        return Response(status_code=204)

    @api.delete("/users/{user_id}/sessions", response_model=SessionsRevoked)
    async def revoke_sessions(user_id: PathText, principal: Admin) -> SessionsRevoked:
        """Sign the user out everywhere."""
        count = await sessions.revoke_all(user_id, actor=principal.principal_id)
        return SessionsRevoked(revoked=count)

    # -- jobs and runs (docs/management-api.md) ------------------------------------------------

    api.include_router(jobs_router(jobs, admin))

    # -- clients registered through RFC 7591 (docs/client-registration.md) -----------------------

    api.include_router(registered_clients_router(registered_clients, admin))

    return AuthMiddleware(
        api,
        auth=[authward_tokens(tokens=verifier, accepts_token=["oauth_token"], dpop=dpop)],
        public_paths=["/openapi.json"],
    )
