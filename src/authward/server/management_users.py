"""Local users in the management API (``/v1/users``): list and search, get, create, disable and
enable, set a new password. Each change is audited by :class:`authward.users.Users` with the
calling machine user as ``actor``.

Mounted by :func:`authward.server.management.management_app`, behind the same admin check.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.

__all__ = ["UserOut", "users_router"]

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, Security
from pydantic import BaseModel, Field

from authward.principal import Principal
from authward.server.api_inputs import BodyText, PathText
from authward.server.management_errors import NotFound, error_responses
from authward.server.management_models import fill
from authward.server.management_ports import UserAdmin
from authward.server.paging import Cursor, Limit, Page, after, read_page
from authward.users.values import UserAccount


class UserOut(BaseModel):
    id: str
    username: str
    disabled: bool
    profile_id: str | None = Field(description="the user's profile record, when the app has one")
    created_at: datetime


class UserDetailOut(UserOut):
    email: str | None
    email_verified: bool
    attributes: dict[str, Any] = Field(description="the profile's fields that tokens carry")
    profile: dict[str, Any] = Field(description="the profile record")


class UserCreate(BaseModel):
    username: BodyText = Field(min_length=1, max_length=200)
    password: BodyText | None = Field(
        default=None,
        max_length=1024,
        description="none: the user signs in only through an external identity provider",
        json_schema_extra={"writeOnly": True},
    )
    profile: dict[str, Any] | None = Field(
        default=None, description="the profile record's fields (define_auth's user_profile)"
    )
    email_verified: bool = False


class PasswordIn(BaseModel):
    password: BodyText = Field(max_length=1024, json_schema_extra={"writeOnly": True})


def _user_out(account: UserAccount) -> UserOut:
    return fill(UserOut, account)


def users_router(users: UserAdmin, admin: Callable[..., Awaitable[Principal]]) -> APIRouter:
    """``admin``: the management API's dependency that lets only its machine users through."""
    Admin = Annotated[Principal, Security(admin)]
    router = APIRouter(tags=["users"])

    async def existing(user_id: str) -> UserAccount:
        found = await users.get(user_id)
        if found is None:
            raise NotFound(f"no user {user_id!r}")
        return found

    @router.get("/users", response_model=Page[UserOut], responses=error_responses(400))
    async def list_users(
        _: Admin,
        limit: Limit = 50,
        cursor: Cursor = None,
        q: Annotated[
            str | None,
            Query(max_length=200, pattern=r"^[^\x00]*$", description="part of the username"),
        ] = None,
    ) -> Page[UserOut]:
        """Users by username; ``q``: those whose username holds it, whatever its case."""
        start = after("users", cursor, [str])
        found = await users.page(
            after=str(start[0]) if start else None, limit=limit + 1, contains=q
        )
        return read_page("users", found, limit, lambda u: (u.username,), _user_out)

    @router.post(
        "/users", status_code=201, response_model=UserOut, responses=error_responses(400, 409)
    )
    async def create_user(body: UserCreate, principal: Admin) -> UserOut:
        """A new local user (``user.created``); 409 when the username is taken."""
        created = await users.create(
            body.username,
            body.password,
            profile=body.profile,
            email_verified=body.email_verified,
            actor=principal,
        )
        return _user_out(created)

    @router.get("/users/{user_id}", response_model=UserDetailOut, responses=error_responses(404))
    async def get_user(user_id: PathText, _: Admin) -> UserDetailOut:
        """One user with its profile and the attributes its tokens carry."""
        account = await existing(user_id)
        claims = await users.claims(account.id)
        return UserDetailOut(
            **_user_out(account).model_dump(),
            email=claims.email if claims else None,
            email_verified=claims.email_verified if claims else False,
            attributes=dict(claims.attribute_map) if claims else {},
            profile=dict(claims.profile) if claims else {},
        )

    @router.post("/users/{user_id}/disable", response_model=UserOut, responses=error_responses(404))
    async def disable_user(user_id: PathText, principal: Admin) -> UserOut:
        """Refuse the user's sign-ins, end its sessions and revoke its grants
        (``user.disabled``)."""
        account = await existing(user_id)
        return _user_out(await users.disable(account.username, actor=principal.principal_id))

    @router.post("/users/{user_id}/enable", response_model=UserOut, responses=error_responses(404))
    async def enable_user(user_id: PathText, principal: Admin) -> UserOut:
        """Let a disabled user sign in again (``user.enabled``)."""
        account = await existing(user_id)
        return _user_out(await users.enable(account.username, actor=principal.principal_id))

    @router.put("/users/{user_id}/password", status_code=204, responses=error_responses(400, 404))
    async def set_password(user_id: PathText, body: PasswordIn, principal: Admin) -> Response:
        """Give the user a new password (``user.password_set``); 400 when the policy refuses
        it."""
        account = await existing(user_id)
        await users.set_password(account.username, body.password, actor=principal.principal_id)
        return Response(status_code=204)

    return router
