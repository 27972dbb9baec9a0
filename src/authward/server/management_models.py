"""The JSON shapes of API keys, organizations, members and sessions in the management API
(:mod:`authward.server.management`)."""

# No ``from __future__ import annotations``: FastAPI reads these models' annotations.

__all__ = [
    "MAX_KEY_SECONDS",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "MemberRoleIn",
    "MembershipOut",
    "OrganizationCreate",
    "OrganizationOut",
    "SessionOut",
    "SessionsRevoked",
    "api_key_out",
    "created_key_out",
    "fill",
    "member_out",
    "org_out",
    "session_out",
]

from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from authward.identity.api_keys import ApiKeyAuth, ApiKeyInfo
from authward.identity.orgs import Membership, Organization
from authward.identity.sessions import SessionInfo
from authward.server.api_inputs import BodyText

M = TypeVar("M", bound=BaseModel)

#: The longest lifetime an API key may be created with (ten years).
MAX_KEY_SECONDS = 10 * 365 * 86_400


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


def fill(model: type[M], source: object, **given: Any) -> M:
    """``model`` from ``source``'s attributes of the same names; ``given`` names the rest."""
    taken = {name: getattr(source, name) for name in model.model_fields if name not in given}
    return model.model_validate({**taken, **given})


def org_out(org: Organization) -> OrganizationOut:
    return fill(OrganizationOut, org)


def member_out(m: Membership) -> MembershipOut:
    return fill(MembershipOut, m)


def session_out(info: SessionInfo) -> SessionOut:
    return fill(SessionOut, info, status=info.status())


def api_key_out(info: ApiKeyInfo) -> ApiKeyOut:
    return fill(ApiKeyOut, info, status=info.status())


def created_key_out(secret: str, auth: ApiKeyAuth) -> ApiKeyCreated:
    return ApiKeyCreated(
        key=secret,
        id=auth.key_id,
        name=auth.name,
        user_id=auth.user_id,
        org_id=auth.org_id,
        scopes=list(auth.scopes),
        expires_at=auth.expires_at,
    )
