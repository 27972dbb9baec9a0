"""Machines and M2M tokens: a machine user's opaque token for service-to-service calls.

A **machine** is a receiving service. It is registered once (:meth:`Machines.create`) and gets a
*machine secret key* (``msk_...``, shown once, only its SHA-256 digest stored), which it holds in
its environment and passes to ``authward_tokens(..., machine_secret_key=...)``.

An **M2M token** (``mt_...``, shown once, only its digest stored) acts as one of the config's
machine users and names its *audience*: the machines it may be presented to. A service verifies a
token with its own machine secret key (:meth:`M2MTokens.verify`): the key says which machine is
verifying, and a token is refused at a machine outside its audience (``m2m-wrong-machine``).

Both secrets have the API key format (docs/api-keys.md): prefix + 43 base62 characters (256
random bits) + a 6-character CRC32 checksum, so a mistyped one is refused without any lookup.

Verification keeps bounded in-memory caches of the accepted machine keys and tokens, so a known
token at a known machine completes without I/O. A cached entry older than
``AUTHWARD_CACHE_REFRESH_SECONDS`` is re-read on its next use; a token or machine revoked through
*this* process is refused at once, one revoked elsewhere within that interval (or at once after
:meth:`M2MTokens.invalidate`). Expiry is checked on every verification. A token whose machine user
was removed from the config (the sync deletes it) is refused on the entry's next re-read.

Refusals raise :class:`~authward.errors.TokenError` with a stable ``reason``: ``m2m-malformed``,
``m2m-invalid`` (unknown), ``m2m-revoked``, ``m2m-expired``, ``m2m-wrong-machine``,
``m2m-subject-unknown`` (machine user removed) and ``machine-secret-invalid`` (the verifying
service's key is malformed, unknown or its machine revoked).
"""

from __future__ import annotations

__all__ = [
    "M2M_TOKEN_PREFIX",
    "MACHINE_SECRET_KEY_PREFIX",
    "M2MAuth",
    "M2MTokenInfo",
    "M2MTokens",
    "Machine",
    "Machines",
    "generate_m2m_token",
    "generate_machine_secret_key",
    "is_m2m_token",
    "is_machine_secret_key",
]

import builtins
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.channel.secret_cache import Found, Refusals, SecretCache
from authward.errors import ConfigError, TokenError
from authward.principal import BuildsPrincipal, Principal
from authward.settings import Settings
from authward.store.audit import AuditEvent, AuditStore
from authward.store.engine import begin_write
from authward.store.schema import m2m_tokens, machine_users, machines
from authward.tokens import opaque
from authward.tokens.verifier import uuids

M2M_TOKEN_PREFIX = "mt_"
MACHINE_SECRET_KEY_PREFIX = "msk_"
MACHINE_ID_PREFIX = "mch_"
#: RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
#: Machine names are used on command lines and in logs: a slug.
_MACHINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


# -- format -------------------------------------------------------------------------------------


def generate_m2m_token() -> str:
    """A fresh ``mt_`` token in the authward format (nothing is stored)."""
    return opaque.generate(M2M_TOKEN_PREFIX)


def generate_machine_secret_key() -> str:
    """A fresh ``msk_`` machine secret key in the authward format (nothing is stored)."""
    return opaque.generate(MACHINE_SECRET_KEY_PREFIX)


def is_m2m_token(secret: str) -> bool:
    """Prefix, length, alphabet and checksum of an M2M token: no lookup."""
    return opaque.is_well_formed(secret, M2M_TOKEN_PREFIX)


def is_machine_secret_key(secret: str) -> bool:
    """Prefix, length, alphabet and checksum of a machine secret key: no lookup."""
    return opaque.is_well_formed(secret, MACHINE_SECRET_KEY_PREFIX)


def _scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        raise ConfigError("must be a list of scopes, not one string", path="scopes")
    seen: dict[str, None] = {}
    for scope in scopes:
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            raise ConfigError(
                f"{scope!r} is not a scope (non-empty, printable ASCII, no spaces or quotes)",
                path="scopes",
            )
        seen[scope] = None
    return tuple(seen)


def _machine_name(name: str) -> str:
    if not isinstance(name, str) or not _MACHINE_NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a machine name (1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit)",
            path="name",
        )
    if name.startswith(MACHINE_ID_PREFIX):
        raise ConfigError(f"machine names may not start with {MACHINE_ID_PREFIX!r}", path="name")
    return name


# -- machines -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Machine:
    """A receiving service M2M tokens are verified at. Never its secret key."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    def status(self) -> Literal["active", "revoked"]:
        return "revoked" if self.revoked_at is not None else "active"


_MACHINE_REFUSALS = Refusals(
    unknown=("machine-secret-invalid", "unknown machine secret key"),
    revoked=("machine-secret-invalid", "the machine has been revoked"),
)


def _machine(row: Any) -> Machine:
    return Machine(
        id=row.id,
        name=row.name,
        scopes=tuple(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _machine_where(name_or_id: str) -> Any:
    if name_or_id.startswith(MACHINE_ID_PREFIX):
        return machines.c.id == name_or_id
    return machines.c.name == name_or_id


class Machines:
    """Register, list, revoke and identify machines (``Authward.machines``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        audit: AuditStore | None = None,
        max_cached: int = 1_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._audit = audit or AuditStore(engine)
        #: digest of a machine secret key -> its (active) machine.
        self._cache: SecretCache[Machine] = SecretCache(
            _MACHINE_REFUSALS,
            max_entries=max_cached,
            refresh_seconds=settings.cache_refresh_seconds,
            clock=clock,
        )

    async def create(
        self, name: str, scopes: Iterable[str] = (), *, actor: str | None = None
    ) -> tuple[str, Machine]:
        """Register a machine. Returns its secret key (shown once, never stored) and the
        machine."""
        name = _machine_name(name)
        scope_list = _scopes(scopes)
        now = datetime.now(UTC)
        secret = generate_machine_secret_key()
        machine = Machine(
            id=MACHINE_ID_PREFIX + uuid4().hex,
            name=name,
            scopes=scope_list,
            created_at=now,
            revoked_at=None,
        )
        try:
            async with begin_write(self._engine) as conn:
                taken = await conn.execute(select(machines.c.id).where(machines.c.name == name))
                if taken.first() is not None:
                    raise ConfigError(f"a machine named {name!r} already exists", path="name")
                await conn.execute(
                    machines.insert().values(
                        id=machine.id,
                        name=name,
                        secret_digest=opaque.digest(secret),
                        scopes=list(scope_list),
                        created_at=now,
                    )
                )
                await self._audit.record(
                    AuditEvent(
                        "machine.created",
                        now,
                        actor=actor,
                        subject=machine.id,
                        detail={"machine_id": machine.id, "name": name, "scopes": list(scope_list)},
                    ),
                    conn,
                )
        except IntegrityError:  # a concurrent create of the same name
            raise ConfigError(f"a machine named {name!r} already exists", path="name") from None
        return secret, machine

    async def get(self, name_or_id: str) -> Machine | None:
        """A machine by name or by id (``mch_...``), revoked or not."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(machines).where(_machine_where(name_or_id)))).first()
        return _machine(row) if row is not None else None

    async def list(self, include_revoked: bool = False) -> builtins.list[Machine]:
        """Machines, oldest first; revoked ones only when asked."""
        query = select(machines).order_by(machines.c.created_at, machines.c.name)
        if not include_revoked:
            query = query.where(machines.c.revoked_at.is_(None))
        async with self._engine.connect() as conn:
            return [_machine(r) for r in await conn.execute(query)]

    async def revoke(self, name_or_id: str, *, actor: str | None = None) -> bool:
        """Revoke a machine: its secret key stops verifying anything (here at once, elsewhere
        within cache_refresh_seconds). False when there is no such machine or it was already
        revoked."""
        now = datetime.now(UTC)
        async with begin_write(self._engine) as conn:
            row = (
                await conn.execute(
                    select(machines.c.id, machines.c.name).where(_machine_where(name_or_id))
                )
            ).first()
            if row is None:
                return False
            self._cache.revoked({row.id})
            done = await conn.execute(
                update(machines)
                .where(machines.c.id == row.id, machines.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if done.rowcount != 1:
                return False
            await self._audit.record(
                AuditEvent(
                    "machine.revoked",
                    now,
                    actor=actor,
                    subject=row.id,
                    detail={"machine_id": row.id, "name": row.name},
                ),
                conn,
            )
        return True

    async def identify(self, machine_secret_key: str) -> Machine:
        """The active machine a secret key belongs to, or ``TokenError('machine-secret-invalid')``.
        A known key completes without I/O."""
        digest = opaque.digest(machine_secret_key)
        now = time.time()
        machine = self._cache.get(digest, now)
        if machine is not None:
            return machine  # only well-formed keys are ever cached
        if not is_machine_secret_key(machine_secret_key):
            raise TokenError(
                "machine-secret-invalid",
                "the machine secret key is not an authward machine secret key",
            )
        return await self._cache.load(digest, lambda: self._read(digest), now)

    async def _read(self, digest: str) -> Found[Machine] | None:
        query = select(machines).where(machines.c.secret_digest == digest)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        revoked = row.revoked_at is not None
        return Found(row.id, row.secret_digest, revoked, None, lambda: _machine(row))

    async def resolve(self, names_or_ids: Iterable[str]) -> builtins.list[Machine]:
        """Active machines by name or id, in order without repeats; ConfigError naming the
        unknown or revoked ones."""
        if isinstance(names_or_ids, str):
            raise ConfigError("must be a list of machines, not one string", path="audience")
        wanted = list(dict.fromkeys(names_or_ids))
        if not wanted:
            raise ConfigError(
                "name at least one machine the token may be presented to", path="audience"
            )
        ids = [w for w in wanted if w.startswith(MACHINE_ID_PREFIX)]
        names = [w for w in wanted if not w.startswith(MACHINE_ID_PREFIX)]
        query = select(machines).where(or_(machines.c.id.in_(ids), machines.c.name.in_(names)))
        async with self._engine.connect() as conn:
            rows = [_machine(r) for r in await conn.execute(query)]
        by_key = {m.id: m for m in rows} | {m.name: m for m in rows}
        unknown = [w for w in wanted if w not in by_key]
        if unknown:
            raise ConfigError(f"no machine {', '.join(map(repr, unknown))}", path="audience")
        revoked = [w for w in wanted if by_key[w].revoked_at is not None]
        if revoked:
            raise ConfigError(
                f"machine {', '.join(map(repr, revoked))} has been revoked", path="audience"
            )
        return list({by_key[w].id: by_key[w] for w in wanted}.values())

    def invalidate(self) -> None:
        """Re-read every machine from the store on its next use."""
        self._cache.clear()


# -- M2M tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class M2MAuth(BuildsPrincipal):
    """A verified M2M token: the machine user it acts as, at the machine that verified it."""

    #: The machine user's id (``aw_machine_users.id``), as in its OAuth tokens' ``sub``.
    subject: str
    machine_user: str
    token_id: str
    #: The machine (of the token's audience) this token was verified at.
    machine_id: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    #: The machine user's configured attributes and attribute list.
    attributes: Mapping[str, Any] = field(repr=False, compare=False)
    attribute_list: tuple[str, ...] = field(repr=False, compare=False)
    token_type: Literal["m2m_token"] = "m2m_token"
    _principal: Principal | None = field(default=None, init=False, repr=False, compare=False)

    def _build_principal(self) -> Principal:
        attributes: dict[str, Any] = dict(self.attributes)
        attributes.update(tokenType=self.token_type, scopes=tuple(self.scopes))
        return Principal(
            authenticator="authward",
            principal_type="machine",
            principal_id=self.subject,
            subject=self.subject,
            attributes=attributes,
            attribute_list=uuids(self.attribute_list),
        )


@dataclass(frozen=True, slots=True)
class M2MTokenInfo:
    """A stored token as listings show it: never the token, only its hint."""

    id: str
    hint: str
    subject: str
    #: ``None`` when the machine user has since been removed from the config.
    machine_user: str | None
    #: Machine ids.
    audience: tuple[str, ...]
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime | None = None) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"


@dataclass(slots=True)
class _TokenEntry:
    token_id: str
    subject: str
    machine_user: str
    attributes: Mapping[str, Any]
    attribute_list: tuple[str, ...]
    audience: frozenset[str]
    scopes: tuple[str, ...]
    expires_at: datetime | None
    #: machine id -> the auth object handed out there (built once).
    auths: dict[str, M2MAuth] = field(default_factory=dict)


_TOKEN_REFUSALS = Refusals(
    unknown=("m2m-invalid", "unknown M2M token"),
    revoked=("m2m-revoked", "M2M token has been revoked"),
    expired=("m2m-expired", "M2M token has expired"),
)


def _token_id(value: UUID | str) -> str:
    if isinstance(value, UUID):
        return str(value)
    if value.startswith(M2M_TOKEN_PREFIX):
        raise ConfigError(
            "that is the token itself: pass its id (from `m2m create --json` or `m2m list`)",
            path="token_id",
        )
    try:
        return str(UUID(value))
    except ValueError:
        raise ConfigError(f"{value!r} is not an M2M token id (a UUID)", path="token_id") from None


def _lifetime(expires_in: float | timedelta | None) -> timedelta | None:
    if expires_in is None:
        return None
    lifetime = expires_in if isinstance(expires_in, timedelta) else timedelta(seconds=expires_in)
    if lifetime <= timedelta(0):
        raise ConfigError("must be a positive number of seconds", path="expires_in")
    return lifetime


class M2MTokens:
    """Create, list, revoke and verify M2M tokens (``Authward.m2m_tokens``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        machines: Machines,
        *,
        audit: AuditStore | None = None,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._machines = machines
        self._audit = audit or AuditStore(engine)
        self._cache: SecretCache[_TokenEntry] = SecretCache(
            _TOKEN_REFUSALS,
            max_entries=max_cached,
            refresh_seconds=settings.cache_refresh_seconds,
            clock=clock,
        )

    # -- management -----------------------------------------------------------------------------

    async def create(
        self,
        machine_user_name: str,
        audience: Iterable[str],
        scopes: Iterable[str] = (),
        expires_in: float | timedelta | None = None,
        *,
        actor: str | None = None,
    ) -> tuple[str, M2MTokenInfo]:
        """A token acting as the config's machine user ``machine_user_name``, valid at the
        machines of ``audience`` (names or ids). Returns the token (shown once, never stored)
        and its record. ``expires_in`` seconds; ``None`` never expires (revoke it instead).

        A machine registered with scopes accepts only tokens whose scopes it lists."""
        scope_list = _scopes(scopes)
        lifetime = _lifetime(expires_in)
        targets = await self._machines.resolve(audience)
        for machine in targets:
            extra = [s for s in scope_list if machine.scopes and s not in machine.scopes]
            if extra:
                raise ConfigError(
                    f"machine {machine.name!r} does not accept scope "
                    f"{', '.join(map(repr, extra))} (its scopes: {' '.join(machine.scopes)})",
                    path="scopes",
                )
        query = select(machine_users.c.id).where(machine_users.c.name == machine_user_name)
        async with self._engine.connect() as conn:
            user_id = (await conn.execute(query)).scalar()
        if user_id is None:
            raise ConfigError(
                f"no machine user {machine_user_name!r} (machine users come from the config)",
                path="machine_user",
            )
        now = datetime.now(UTC)
        token = generate_m2m_token()
        info = M2MTokenInfo(
            id=str(uuid4()),
            hint=opaque.hint(token),
            subject=str(user_id),
            machine_user=machine_user_name,
            audience=tuple(m.id for m in targets),
            scopes=scope_list,
            created_at=now,
            expires_at=now + lifetime if lifetime is not None else None,
            revoked_at=None,
        )
        async with begin_write(self._engine) as conn:
            await conn.execute(
                m2m_tokens.insert().values(
                    id=info.id,
                    digest=opaque.digest(token),
                    hint=info.hint,
                    subject=info.subject,
                    audience=list(info.audience),
                    scopes=list(scope_list),
                    created_at=now,
                    expires_at=info.expires_at,
                )
            )
            await self._audit.record(
                AuditEvent(
                    "m2m.created",
                    now,
                    actor=actor,
                    subject=info.subject,
                    detail={
                        "token_id": info.id,
                        "hint": info.hint,
                        "machine_user": machine_user_name,
                        "audience": list(info.audience),
                        "scopes": list(scope_list),
                        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
                    },
                ),
                conn,
            )
        return token, info

    async def _infos(self, query: Any) -> builtins.list[M2MTokenInfo]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            names = {
                str(r.id): r.name
                for r in await conn.execute(select(machine_users.c.id, machine_users.c.name))
            }
        return [
            M2MTokenInfo(
                id=r.id,
                hint=r.hint,
                subject=r.subject,
                machine_user=names.get(r.subject),
                audience=tuple(r.audience),
                scopes=tuple(r.scopes),
                created_at=r.created_at,
                expires_at=r.expires_at,
                revoked_at=r.revoked_at,
            )
            for r in rows
        ]

    async def get(self, token_id: UUID | str) -> M2MTokenInfo | None:
        found = await self._infos(select(m2m_tokens).where(m2m_tokens.c.id == _token_id(token_id)))
        return found[0] if found else None

    async def list(
        self, machine_user: str | None = None, include_revoked: bool = False
    ) -> builtins.list[M2MTokenInfo]:
        """Tokens, oldest first, optionally of one machine user; revoked ones only when asked."""
        query = select(m2m_tokens).order_by(m2m_tokens.c.created_at, m2m_tokens.c.id)
        if machine_user is not None:
            async with self._engine.connect() as conn:
                user_id = (
                    await conn.execute(
                        select(machine_users.c.id).where(machine_users.c.name == machine_user)
                    )
                ).scalar()
            if user_id is None:
                return []
            query = query.where(m2m_tokens.c.subject == str(user_id))
        if not include_revoked:
            query = query.where(m2m_tokens.c.revoked_at.is_(None))
        return await self._infos(query)

    async def revoke(self, token_id: UUID | str, *, actor: str | None = None) -> bool:
        """Revoke a token; this process refuses it at once, others within
        cache_refresh_seconds. False when there is no such token or it was already revoked."""
        tid = _token_id(token_id)
        self._cache.revoked({tid})
        now = datetime.now(UTC)
        async with begin_write(self._engine) as conn:
            done = await conn.execute(
                update(m2m_tokens)
                .where(m2m_tokens.c.id == tid, m2m_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if done.rowcount != 1:
                return False
            row = (
                await conn.execute(
                    select(m2m_tokens.c.hint, m2m_tokens.c.subject).where(m2m_tokens.c.id == tid)
                )
            ).one()
            await self._audit.record(
                AuditEvent(
                    "m2m.revoked",
                    now,
                    actor=actor,
                    subject=row.subject,
                    detail={"token_id": tid, "hint": row.hint},
                ),
                conn,
            )
        return True

    # -- verification ---------------------------------------------------------------------------

    async def verify(self, token: str, machine_secret_key: str) -> M2MAuth:
        """What ``token`` acts as at the machine whose secret key is ``machine_secret_key``, or
        :class:`TokenError`. A known token at a known machine completes without I/O."""
        digest = opaque.digest(token)
        # Only well-formed tokens are ever cached: the format is checked on a miss, before any I/O.
        if digest not in self._cache and not is_m2m_token(token):
            raise TokenError(
                "m2m-malformed", "not an authward M2M token (wrong prefix, length or checksum)"
            )
        machine = await self._machines.identify(machine_secret_key)
        now = time.time()
        entry = self._cache.get(digest, now)  # after the await: a revocation meanwhile evicted it
        if entry is None:
            entry = await self._cache.load(digest, lambda: self._read(digest), now)
        auth = entry.auths.get(machine.id)
        if auth is None:
            if machine.id not in entry.audience:
                raise TokenError("m2m-wrong-machine", "M2M token is not meant for this machine")
            auth = entry.auths[machine.id] = M2MAuth(
                subject=entry.subject,
                machine_user=entry.machine_user,
                token_id=entry.token_id,
                machine_id=machine.id,
                scopes=entry.scopes,
                expires_at=entry.expires_at,
                attributes=entry.attributes,
                attribute_list=entry.attribute_list,
            )
        return auth

    async def _read(self, digest: str) -> Found[_TokenEntry] | None:
        query = select(
            m2m_tokens.c.id,
            m2m_tokens.c.digest,
            m2m_tokens.c.subject,
            m2m_tokens.c.audience,
            m2m_tokens.c.scopes,
            m2m_tokens.c.expires_at,
            m2m_tokens.c.revoked_at,
        ).where(m2m_tokens.c.digest == digest)
        user = None
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            try:
                user_id = UUID(row.subject)
            except ValueError:
                user_id = None
            if user_id is not None:
                user = (
                    await conn.execute(
                        select(
                            machine_users.c.name,
                            machine_users.c.attributes,
                            machine_users.c.attribute_list,
                        ).where(machine_users.c.id == user_id)
                    )
                ).first()

        def entry() -> _TokenEntry:
            if user is None:
                raise TokenError("m2m-subject-unknown", "M2M token's machine user no longer exists")
            return _TokenEntry(
                token_id=row.id,
                subject=row.subject,
                machine_user=user.name,
                attributes=dict(user.attributes),
                attribute_list=tuple(user.attribute_list),
                audience=frozenset(row.audience),
                scopes=tuple(row.scopes),
                expires_at=row.expires_at,
            )

        return Found(row.id, row.digest, row.revoked_at is not None, row.expires_at, entry)

    def invalidate(self) -> None:
        """Re-read every token and machine from the store on its next use (sees other
        processes' revocations and config changes)."""
        self._cache.clear()
        self._machines.invalidate()
