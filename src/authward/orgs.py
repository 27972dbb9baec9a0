"""Organizations, memberships and roles (``Authward.organizations``).

An organization has an id (``org_`` + 22 base62 characters, never reused), a unique ``slug``
(lower-case letters, digits and ``-``, used by people and the CLI) and a display ``name``. A user
(any id of yours, at most 64 characters) is a member with exactly one role; a role is one of
``define_auth(organization_roles=...)`` and its permissions come from the config, never from the
store, so changing the config changes what every member of that role may do.

Everywhere an organization is asked for, its id or its slug works (a slug has no ``_``, an id
always has one). Every change writes an audit event in the same transaction: ``org.created``,
``org.deleted``, ``org.member_added``, ``org.member_role_changed``, ``org.member_removed``.

Deleting an organization also revokes its API keys, in the same transaction (an
``apikey.revoked`` event each); with the runtime's :class:`~authward.identity.api_keys.ApiKeys`
wired in (as :class:`~authward.runtime.Authward` does) this process refuses them at once.
"""

from __future__ import annotations

__all__ = [
    "ORG_ID_PREFIX",
    "MemberRole",
    "Membership",
    "Organization",
    "OrganizationConflict",
    "OrganizationError",
    "OrganizationNotFound",
    "Organizations",
]

import builtins
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.errors import AuthwardError, ConfigError
from authward.store.api_keys import revoke_org_keys
from authward.store.audit import AuditEvent, AuditStore
from authward.store.engine import begin_write
from authward.store.schema import memberships, organizations

if TYPE_CHECKING:
    from uuid import UUID

    from authward.identity.api_keys import ApiKeys

ORG_ID_PREFIX = "org_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_MAX_NAME = 200
_MAX_USER = 64


class OrganizationError(AuthwardError):
    """An organization operation cannot be done in the store's current state: no such
    organization, a slug already taken, a user who is (not) a member."""

    code = "organization_error"


class OrganizationNotFound(OrganizationError):
    """No organization with that id or slug, or the user is not a member of it."""

    code = "not_found"


class OrganizationConflict(OrganizationError):
    """The store already has it: a slug taken, a user who is already a member."""

    code = "conflict"


def random_id(prefix: str, chars: int = 22) -> str:
    """``prefix`` + ``chars`` base62 characters (22 carry 128 bits)."""
    picked: list[str] = []
    while len(picked) < chars:
        # One urandom read for the whole id: secrets.choice reads once per character, 65
        # system calls for a sign-in's session. Bytes from 248 up are dropped so that every
        # character stays uniform (248 = 4 * 62).
        picked += [_ALPHABET[b % 62] for b in secrets.token_bytes(chars + 8) if b < 248]
    return prefix + "".join(picked[:chars])


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    slug: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    org_id: str
    org_slug: str
    user_id: str
    role: str
    #: The role's permissions in the current config (empty for a role the config dropped).
    permissions: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MemberRole:
    role: str
    permissions: tuple[str, ...]


def _org(row: Any) -> Organization:
    return Organization(
        id=row.id,
        slug=row.slug,
        name=row.name,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _slug(slug: str) -> str:
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise ConfigError(
            f"{slug!r} is not a slug: 1 to 64 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit",
            path="slug",
        )
    return slug


def _name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
        raise ConfigError(f"must be 1 to {_MAX_NAME} characters", path="name")
    if not name.isprintable():
        raise ConfigError("must be printable characters on one line", path="name")
    return name


def _user(user_id: str) -> str:
    if (
        not isinstance(user_id, str)
        or not user_id
        or user_id != user_id.strip()
        or len(user_id) > _MAX_USER
        or not user_id.isprintable()
    ):
        raise ConfigError(
            f"must be a non-empty id of at most {_MAX_USER} characters without surrounding spaces",
            path="user_id",
        )
    return user_id


class Organizations:
    """Create, list and delete organizations; add, change and remove members."""

    def __init__(
        self,
        engine: AsyncEngine,
        roles: Mapping[str, tuple[str, ...]],
        *,
        audit: AuditStore | None = None,
        api_keys: ApiKeys | None = None,
    ) -> None:
        self._engine = engine
        self._roles = roles
        self._audit = audit or AuditStore(engine)
        #: Revokes the keys of a deleted organization so that this process refuses them at once.
        self._api_keys = api_keys

    # -- roles ----------------------------------------------------------------------------------

    @property
    def roles(self) -> Mapping[str, tuple[str, ...]]:
        """role -> permissions, from ``define_auth(organization_roles=...)``."""
        return self._roles

    def permissions_of(self, role: str) -> tuple[str, ...]:
        """The role's permissions in the current config; ``()`` for a role it no longer has."""
        return tuple(self._roles.get(role, ()))

    def _role(self, role: str) -> str:
        if role not in self._roles:
            known = ", ".join(sorted(self._roles)) or "none are defined"
            raise ConfigError(
                f"unknown organization role {role!r} (known: {known}; roles come from "
                "define_auth(organization_roles=...))",
                path="role",
            )
        return role

    # -- organizations --------------------------------------------------------------------------

    async def create(self, slug: str, name: str, *, actor: str | None = None) -> Organization:
        slug, name = _slug(slug), _name(name)
        now = datetime.now(UTC)
        org = Organization(random_id(ORG_ID_PREFIX), slug, name, now, now)
        try:
            async with begin_write(self._engine) as conn:
                if await self._find(conn, slug) is not None:
                    raise OrganizationConflict(f"an organization with slug {slug!r} already exists")
                await conn.execute(
                    organizations.insert().values(
                        id=org.id, slug=slug, name=name, created_at=now, updated_at=now
                    )
                )
                await self._record(
                    conn, "org.created", now, actor, None, org, {"slug": slug, "name": name}
                )
        except IntegrityError:
            # Two creators raced for the slug: the unique index decided.
            raise OrganizationConflict(
                f"an organization with slug {slug!r} already exists"
            ) from None
        return org

    async def get(self, org: str) -> Organization | None:
        """The organization with this id or slug."""
        async with self._engine.connect() as conn:
            return await self._find(conn, org)

    async def list(self) -> builtins.list[Organization]:
        """Every organization, by slug."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(organizations).order_by(organizations.c.slug))
            return [_org(r) for r in rows]

    async def delete(self, org: str, *, actor: str | None = None) -> bool:
        """Delete an organization and its memberships, and revoke its API keys, in one
        transaction. False when there is none."""
        now = datetime.now(UTC)
        revoked: builtins.list[UUID] = []
        try:
            async with begin_write(self._engine) as conn:
                found = await self._find(conn, org)
                if found is None:
                    return False
                removed = await conn.execute(
                    delete(memberships).where(memberships.c.org_id == found.id)
                )
                # The organization's row goes first: a key being created for it concurrently
                # holds a share lock on that row (PostgreSQL), so its key is either committed
                # before the revocation below reads the keys, or refused for want of the row.
                await conn.execute(delete(organizations).where(organizations.c.id == found.id))
                if self._api_keys is not None:
                    revoked = await self._api_keys.revoke_org_keys(
                        conn, found.id, now=now, actor=actor
                    )
                else:
                    revoked = await revoke_org_keys(
                        conn, found.id, now=now, actor=actor, audit=self._audit
                    )
                await self._record(
                    conn,
                    "org.deleted",
                    now,
                    actor,
                    None,
                    found,
                    {
                        "slug": found.slug,
                        "memberships_removed": removed.rowcount,
                        "api_keys_revoked": len(revoked),
                    },
                )
        except BaseException:
            # Rolled back: the keys are still active in the store, so stop refusing them here.
            if revoked and self._api_keys is not None:
                self._api_keys.forget_local_revocations(revoked)
            raise
        return True

    # -- members --------------------------------------------------------------------------------

    async def add_member(
        self, org: str, user_id: str, role: str, *, actor: str | None = None
    ) -> Membership:
        user_id, role = _user(user_id), self._role(role)
        now = datetime.now(UTC)
        try:
            async with begin_write(self._engine) as conn:
                found = await self._require(conn, org)
                if await self._role_of(conn, found.id, user_id) is not None:
                    raise OrganizationConflict(
                        f"{user_id!r} is already a member of {found.slug!r} (use set_role)"
                    )
                await conn.execute(
                    memberships.insert().values(
                        org_id=found.id,
                        user_id=user_id,
                        role=role,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await self._record(
                    conn, "org.member_added", now, actor, user_id, found, {"role": role}
                )
        except IntegrityError:
            raise OrganizationConflict(f"{user_id!r} is already a member of {org!r}") from None
        return Membership(found.id, found.slug, user_id, role, self.permissions_of(role), now, now)

    async def set_role(
        self, org: str, user_id: str, role: str, *, actor: str | None = None
    ) -> Membership:
        user_id, role = _user(user_id), self._role(role)
        now = datetime.now(UTC)
        async with begin_write(self._engine) as conn:
            found = await self._require(conn, org)
            row = (
                await conn.execute(
                    select(memberships).where(
                        memberships.c.org_id == found.id, memberships.c.user_id == user_id
                    )
                )
            ).first()
            if row is None:
                raise OrganizationNotFound(f"{user_id!r} is not a member of {found.slug!r}")
            if row.role != role:
                await conn.execute(
                    update(memberships)
                    .where(memberships.c.org_id == found.id, memberships.c.user_id == user_id)
                    .values(role=role, updated_at=now)
                )
                await self._record(
                    conn,
                    "org.member_role_changed",
                    now,
                    actor,
                    user_id,
                    found,
                    {"from": row.role, "to": role},
                )
        updated = now if row.role != role else row.updated_at
        return Membership(
            found.id, found.slug, user_id, role, self.permissions_of(role), row.created_at, updated
        )

    async def remove_member(self, org: str, user_id: str, *, actor: str | None = None) -> bool:
        """False when the user was not a member. Raises when there is no such organization."""
        now = datetime.now(UTC)
        async with begin_write(self._engine) as conn:
            found = await self._require(conn, org)
            role = await self._role_of(conn, found.id, user_id)
            if role is None:
                return False
            await conn.execute(
                delete(memberships).where(
                    memberships.c.org_id == found.id, memberships.c.user_id == user_id
                )
            )
            await self._record(
                conn, "org.member_removed", now, actor, user_id, found, {"role": role}
            )
        return True

    async def members(self, org: str) -> builtins.list[Membership]:
        """The members of an organization, by user id. Raises when there is no such organization."""
        async with self._engine.connect() as conn:
            found = await self._require(conn, org)
            rows = await conn.execute(
                select(memberships)
                .where(memberships.c.org_id == found.id)
                .order_by(memberships.c.user_id)
            )
            return [self._membership(r, found.slug) for r in rows]

    async def memberships_of(self, user_id: str) -> builtins.list[Membership]:
        """Every organization the user belongs to, by slug."""
        query = (
            select(memberships, organizations.c.slug)
            .join(organizations, organizations.c.id == memberships.c.org_id)
            .where(memberships.c.user_id == user_id)
            .order_by(organizations.c.slug)
        )
        async with self._engine.connect() as conn:
            return [self._membership(r, r.slug) for r in await conn.execute(query)]

    async def member(self, org: str, user_id: str) -> MemberRole | None:
        """The user's role in the organization and its permissions; None when not a member
        (or there is no such organization)."""
        async with self._engine.connect() as conn:
            found = await self._find(conn, org)
            if found is None:
                return None
            role = await self._role_of(conn, found.id, user_id)
        return MemberRole(role, self.permissions_of(role)) if role is not None else None

    # -- helpers --------------------------------------------------------------------------------

    def _membership(self, row: Any, slug: str) -> Membership:
        return Membership(
            org_id=row.org_id,
            org_slug=slug,
            user_id=row.user_id,
            role=row.role,
            permissions=self.permissions_of(row.role),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @staticmethod
    async def _find(conn: AsyncConnection, org: str) -> Organization | None:
        if not isinstance(org, str) or not org:
            return None
        column = organizations.c.id if "_" in org else organizations.c.slug
        row = (await conn.execute(select(organizations).where(column == org))).first()
        return _org(row) if row is not None else None

    async def _require(self, conn: AsyncConnection, org: str) -> Organization:
        found = await self._find(conn, org)
        if found is None:
            raise OrganizationNotFound(f"no organization {org!r} (give its id or its slug)")
        return found

    @staticmethod
    async def _role_of(conn: AsyncConnection, org_id: str, user_id: str) -> str | None:
        row = (
            await conn.execute(
                select(memberships.c.role).where(
                    memberships.c.org_id == org_id, memberships.c.user_id == user_id
                )
            )
        ).first()
        return str(row.role) if row is not None else None

    async def _record(
        self,
        conn: AsyncConnection,
        kind: str,
        at: datetime,
        actor: str | None,
        user_id: str | None,
        org: Organization,
        detail: Mapping[str, Any],
    ) -> None:
        await self._audit.record(
            AuditEvent(
                kind,
                at,
                actor=actor,
                subject=user_id or org.id,
                detail={"org_id": org.id, **({"user_id": user_id} if user_id else {}), **detail},
            ),
            conn,
        )
