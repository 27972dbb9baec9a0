"""The management API (``/v1``, OpenAPI at ``/v1/openapi.json``, Swagger UI at ``/v1/docs``):
users, declared and registered OAuth clients, machine users, API keys, organizations and their
members, sessions, connected accounts, the audit log, jobs and runs, for scripts, CI and the
console (decision 052).

Off unless ``AUTHWARD_ADMIN_MACHINE_USERS`` names the machine users allowed to call it; each
call carries one of their access tokens (``authward machineuser token NAME``). Anyone else gets
401 or 403 before any handler runs. Every list is paged alike (:mod:`authward.server.paging`),
every refusal has one shape (:mod:`authward.server.management_errors`), and every change is an
audit event naming the calling machine user as ``actor``.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations, which
# name dependencies defined inside ``management_app``.

__all__ = ["management_app"]

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import FastAPI, Response, Security
from starlette.types import ASGIApp

from authward.channel import AuthMiddleware, authward_tokens, exception_handlers
from authward.channel.authenticate import ProofVerifier, TokenVerifier
from authward.channel.fastapi import require
from authward.errors import ConfigError, Forbidden
from authward.identity.orgs import Organization, OrganizationConflict
from authward.principal import Principal
from authward.server.api_inputs import PathText, QueryText
from authward.server.jobs_api import JobsAdmin, jobs_router
from authward.server.management_directory import directory_router
from authward.server.management_docs import DOCS_PATHS, docs_routes
from authward.server.management_errors import (
    NotFound,
    error_handlers,
    error_responses,
    management_openapi,
)
from authward.server.management_models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    MemberRoleIn,
    MembershipOut,
    OrganizationCreate,
    OrganizationOut,
    SessionOut,
    SessionsRevoked,
    api_key_out,
    created_key_out,
    member_out,
    org_out,
    session_out,
)
from authward.server.management_ports import (
    ApiKeyAdmin,
    AuditReader,
    ClientList,
    ConnectionAdmin,
    MachineUserList,
    ManagedSessions,
    OrganizationAdmin,
    SecretRotator,
    UserAdmin,
)
from authward.server.management_records import records_router
from authward.server.management_users import users_router
from authward.server.paging import (
    Cursor,
    Limit,
    Page,
    after,
    after_timed,
    page_of,
    read_page,
    time_key,
)
from authward.server.registered_clients_api import RegisteredClientAdmin
from authward.server.registered_clients_api import router as registered_clients_router


def management_app(
    *,
    admins: tuple[str, ...],
    defined_machine_users: Collection[str],
    machine_users: MachineUserList,
    clients: ClientList,
    secret_rotation: SecretRotator,
    users: UserAdmin,
    api_keys: ApiKeyAdmin,
    organizations: OrganizationAdmin,
    sessions: ManagedSessions,
    connections: ConnectionAdmin,
    audit: AuditReader,
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

    Admin = Annotated[Principal, Security(admin)]
    api = FastAPI(
        title="authward management API",
        version="1",
        description="Every call needs an access token of one of AUTHWARD_ADMIN_MACHINE_USERS. "
        "Lists are paged: give a page's next_cursor as cursor for the next one.",
        docs_url=None,
        redoc_url=None,
        # Any request can be malformed: a path with a control character, a body it cannot read.
        responses=error_responses(400),
        exception_handlers={**exception_handlers(), **error_handlers()},
    )
    api.openapi = management_openapi(api)  # type: ignore[method-assign]
    api.router.routes.extend(docs_routes())

    # -- API keys -------------------------------------------------------------------------------

    @api.post(
        "/api-keys", status_code=201, response_model=ApiKeyCreated, responses=error_responses(400)
    )
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
        return created_key_out(secret, auth)

    @api.get("/api-keys", response_model=Page[ApiKeyOut])
    async def list_api_keys(
        _: Admin,
        user_id: QueryText = None,
        org_id: QueryText = None,
        include_revoked: bool = False,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[ApiKeyOut]:
        """Keys, oldest first (hint only, never the secret)."""
        keys = await api_keys.list(
            user_id=user_id,
            org_id=org_id,
            include_revoked=include_revoked,
            after=after_timed("api-keys", cursor, UUID),
            limit=limit + 1,
        )
        return read_page(
            "api-keys", keys, limit, lambda k: (time_key(k.created_at), str(k.id)), api_key_out
        )

    @api.get("/api-keys/{key_id}", response_model=ApiKeyOut, responses=error_responses(404))
    async def get_api_key(key_id: UUID, _: Admin) -> ApiKeyOut:
        found = await api_keys.get(key_id)
        if found is None:
            raise NotFound("no such API key")
        return api_key_out(found)

    @api.delete("/api-keys/{key_id}", status_code=204, responses=error_responses(404))
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
        responses=error_responses(400, 409),
    )
    async def create_organization(body: OrganizationCreate, principal: Admin) -> OrganizationOut:
        org = await organizations.create(body.slug, body.name, actor=principal.principal_id)
        return org_out(org)

    @api.get("/organizations", response_model=Page[OrganizationOut])
    async def list_organizations(
        _: Admin, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[OrganizationOut]:
        """Organizations by slug."""
        start = after("organizations", cursor, [str])
        found = await organizations.list(after=str(start[0]) if start else None, limit=limit + 1)
        return read_page("organizations", found, limit, lambda o: (o.slug,), org_out)

    @api.get("/organizations/{org}", response_model=OrganizationOut, responses=error_responses(404))
    async def get_organization(org: PathText, _: Admin) -> OrganizationOut:
        return org_out(await existing_org(org))

    @api.delete("/organizations/{org}", status_code=204, responses=error_responses(404))
    async def delete_organization(org: PathText, principal: Admin) -> Response:
        """Delete the organization and its memberships, and revoke its API keys."""
        if not await organizations.delete(org, actor=principal.principal_id):
            raise NotFound(f"no organization {org!r} (give its id or its slug)")
        return Response(status_code=204)

    @api.get(
        "/organizations/{org}/members",
        response_model=Page[MembershipOut],
        responses=error_responses(404),
    )
    async def list_members(
        org: PathText, _: Admin, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[MembershipOut]:
        """Members by user id."""
        items, following = page_of(
            "members",
            await organizations.members(org),
            key=lambda m: (m.user_id,),
            cursor=cursor,
            limit=limit,
            types=[str],
        )
        return Page(items=[member_out(m) for m in items], next_cursor=following)

    @api.get(
        "/organizations/{org}/members/{user_id}",
        response_model=MembershipOut,
        responses=error_responses(404),
    )
    async def get_member(org: PathText, user_id: PathText, _: Admin) -> MembershipOut:
        for m in await organizations.members(org):
            if m.user_id == user_id:
                return member_out(m)
        raise NotFound(f"{user_id!r} is not a member of {org!r}")

    @api.put(
        "/organizations/{org}/members/{user_id}",
        response_model=MembershipOut,
        responses={201: {"model": MembershipOut}, **error_responses(400, 404)},
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
                return member_out(added)
        changed = await organizations.set_role(found.id, user_id, body.role, actor=actor)
        return member_out(changed)

    @api.delete(
        "/organizations/{org}/members/{user_id}", status_code=204, responses=error_responses(404)
    )
    async def remove_member(org: PathText, user_id: PathText, principal: Admin) -> Response:
        found = await existing_org(org)
        if not await organizations.remove_member(found.id, user_id, actor=principal.principal_id):
            raise NotFound(f"{user_id!r} is not a member of {found.slug!r}")
        return Response(status_code=204)

    # -- sessions -------------------------------------------------------------------------------

    @api.get(
        "/users/{user_id}/sessions", response_model=Page[SessionOut], responses=error_responses(400)
    )
    async def list_sessions(
        user_id: PathText,
        _: Admin,
        include_inactive: bool = False,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[SessionOut]:
        """The user's active sessions, newest first (revoked and expired ones too with
        ``include_inactive``). Never their secrets."""
        items, following = page_of(
            "sessions",
            await sessions.list(user_id, include_inactive=include_inactive),
            key=lambda s: (time_key(s.created_at), s.id),
            cursor=cursor,
            limit=limit,
            types=[str, str],
            descending=True,
        )
        return Page(items=[session_out(s) for s in items], next_cursor=following)

    @api.get("/sessions/{session_id}", response_model=SessionOut, responses=error_responses(404))
    async def get_session(session_id: PathText, _: Admin) -> SessionOut:
        found = await sessions.get(session_id)
        if found is None:
            raise NotFound("no such session")
        return session_out(found)

    @api.delete("/sessions/{session_id}", status_code=204, responses=error_responses(404))
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

    # -- the other resources, each in a module of its own ---------------------------------------

    api.include_router(users_router(users, admin))
    api.include_router(directory_router(clients, machine_users, secret_rotation, admin))
    api.include_router(registered_clients_router(registered_clients, admin))
    api.include_router(records_router(connections, audit, admin))
    api.include_router(jobs_router(jobs, admin))

    return AuthMiddleware(
        api,
        auth=[authward_tokens(tokens=verifier, accepts_token=["oauth_token"], dpop=dpop)],
        public_paths=["/openapi.json", *DOCS_PATHS],
    )
