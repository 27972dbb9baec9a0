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
``apikey.revoked`` event each), and this process refuses them at once.

The SQL lives in :class:`authward.store.orgs.OrgStore`, behind
:class:`~authward.identity.org_ports.OrgStorePort`.
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
from uuid import UUID

from authward.errors import AuthwardError, ConfigError
from authward.identity.org_ports import OrgKeyRevocation, OrgStorePort
from authward.store.audit import AuditEvent

if TYPE_CHECKING:
    from authward.store.api_keys import Transaction

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


def _key(org: str) -> str | None:
    """``org`` as the store looks it up; None when it cannot name an organization."""
    return org if isinstance(org, str) and org else None


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
        store: OrgStorePort,
        roles: Mapping[str, tuple[str, ...]],
        *,
        api_keys: OrgKeyRevocation,
    ) -> None:
        self._store = store
        self._roles = roles
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
        row = {"id": org.id, "slug": slug, "name": name, "created_at": now, "updated_at": now}
        event = _event("org.created", now, actor, None, org, {"slug": slug, "name": name})
        if not await self._store.insert(row, event):
            raise OrganizationConflict(f"an organization with slug {slug!r} already exists")
        return org

    async def get(self, org: str) -> Organization | None:
        """The organization with this id or slug."""
        key = _key(org)
        row = await self._store.find(key) if key is not None else None
        return _org(row) if row is not None else None

    async def list(
        self, *, after: str | None = None, limit: int | None = None
    ) -> builtins.list[Organization]:
        """Organizations by slug; ``after`` (a slug) and ``limit``: one page."""
        return [_org(r) for r in await self._store.list(after=after, limit=limit)]

    async def delete(self, org: str, *, actor: str | None = None) -> bool:
        """Delete an organization and its memberships, and revoke its API keys, in one
        transaction. False when there is none."""
        key = _key(org)
        if key is None:
            return False
        now = datetime.now(UTC)
        revoked: builtins.list[UUID] = []

        async def revoke_keys(conn: Transaction, org_id: str) -> builtins.list[UUID]:
            revoked.extend(await self._api_keys.revoke_org_keys(conn, org_id, now=now, actor=actor))
            return revoked

        def deleted(found: Any, memberships_removed: int, keys_revoked: int) -> AuditEvent:
            detail = {
                "slug": found.slug,
                "memberships_removed": memberships_removed,
                "api_keys_revoked": keys_revoked,
            }
            return _event("org.deleted", now, actor, None, found, detail)

        try:
            found = await self._store.delete(key, revoke_keys, deleted)
        except BaseException:
            # Rolled back: the keys are still active in the store, so stop refusing them here.
            if revoked:
                self._api_keys.forget_local_revocations(revoked)
            raise
        return found is not None

    # -- members --------------------------------------------------------------------------------

    async def add_member(
        self, org: str, user_id: str, role: str, *, actor: str | None = None
    ) -> Membership:
        user_id, role = _user(user_id), self._role(role)
        now = datetime.now(UTC)
        row = {"user_id": user_id, "role": role, "created_at": now, "updated_at": now}
        found, added = await self._store.add_member(
            self._require(org),
            row,
            lambda found: _event("org.member_added", now, actor, user_id, found, {"role": role}),
        )
        if found is None:
            raise _not_found(org)
        if not added:
            raise OrganizationConflict(
                f"{user_id!r} is already a member of {found.slug!r} (use set_role)"
            )
        return Membership(found.id, found.slug, user_id, role, self.permissions_of(role), now, now)

    async def set_role(
        self, org: str, user_id: str, role: str, *, actor: str | None = None
    ) -> Membership:
        user_id, role = _user(user_id), self._role(role)
        now = datetime.now(UTC)

        def changed(found: Any, former: str) -> AuditEvent:
            detail = {"from": former, "to": role}
            return _event("org.member_role_changed", now, actor, user_id, found, detail)

        found, row = await self._store.set_role(self._require(org), user_id, role, now, changed)
        if found is None:
            raise _not_found(org)
        if row is None:
            raise OrganizationNotFound(f"{user_id!r} is not a member of {found.slug!r}")
        updated = now if row.role != role else row.updated_at
        return Membership(
            found.id, found.slug, user_id, role, self.permissions_of(role), row.created_at, updated
        )

    async def remove_member(self, org: str, user_id: str, *, actor: str | None = None) -> bool:
        """False when the user was not a member. Raises when there is no such organization."""
        now = datetime.now(UTC)
        found, role = await self._store.remove_member(
            self._require(org),
            user_id,
            lambda found, role: _event(
                "org.member_removed", now, actor, user_id, found, {"role": role}
            ),
        )
        if found is None:
            raise _not_found(org)
        return role is not None

    async def members(self, org: str) -> builtins.list[Membership]:
        """The members of an organization, by user id. Raises when there is no such organization."""
        found, rows = await self._store.members(self._require(org))
        if found is None:
            raise _not_found(org)
        return [self._membership(r, found.slug) for r in rows]

    async def memberships_of(self, user_id: str) -> builtins.list[Membership]:
        """Every organization the user belongs to, by slug."""
        return [self._membership(r, r.slug) for r in await self._store.memberships_of(user_id)]

    async def member(self, org: str, user_id: str) -> MemberRole | None:
        """The user's role in the organization and its permissions; None when not a member
        (or there is no such organization)."""
        key = _key(org)
        role = await self._store.role_of(key, user_id) if key is not None else None
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
    def _require(org: str) -> str:
        key = _key(org)
        if key is None:
            raise _not_found(org)
        return key


def _not_found(org: str) -> OrganizationNotFound:
    return OrganizationNotFound(f"no organization {org!r} (give its id or its slug)")


def _event(
    kind: str,
    at: datetime,
    actor: str | None,
    user_id: str | None,
    org: Any,
    detail: Mapping[str, Any],
) -> AuditEvent:
    """``org`` is an :class:`Organization` or its row."""
    return AuditEvent(
        kind,
        at,
        actor=actor,
        subject=user_id or org.id,
        detail={"org_id": org.id, **({"user_id": user_id} if user_id else {}), **detail},
    )
