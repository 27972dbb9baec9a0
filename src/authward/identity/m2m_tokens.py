"""M2M tokens: a machine user's opaque token for service-to-service calls.

An **M2M token** (``mt_...``, shown once, only its digest stored) acts as one of the config's
machine users and names its *audience*: the machines (:mod:`authward.identity.machines`) it may
be presented to. A service verifies a token with its own machine secret key
(:meth:`M2MTokens.verify`): the key says which machine is verifying, and a token is refused at a
machine outside its audience (``m2m-wrong-machine``).

The token has the API key format (docs/api-keys.md): prefix + 43 base62 characters (256 random
bits) + a 6-character CRC32 checksum, so a mistyped one is refused without any lookup.

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

The SQL is :class:`authward.store.m2m.M2MStore`'s, behind
:class:`~authward.identity.m2m_ports.M2MTokenStorePort`.
"""

from __future__ import annotations

__all__ = [
    "M2M_TOKEN_PREFIX",
    "M2MAuth",
    "M2MTokenInfo",
    "M2MTokens",
    "generate_m2m_token",
    "is_m2m_token",
]

import builtins
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from authward.errors import ConfigError, TokenError
from authward.identity.m2m_ports import M2MTokenStorePort, MachineDirectory
from authward.identity.machines import checked_scopes
from authward.identity.secret_cache import Found, Refusals, SecretCache
from authward.principal import BuildsPrincipal, Principal
from authward.store.audit import AuditEvent
from authward.tokens import opaque
from authward.tokens.verifier import uuids

M2M_TOKEN_PREFIX = "mt_"  # noqa: S105 (a prefix, not a secret)


def generate_m2m_token() -> str:
    """A fresh ``mt_`` token in the authward format (nothing is stored)."""
    return opaque.generate(M2M_TOKEN_PREFIX)


def is_m2m_token(secret: str) -> bool:
    """Prefix, length, alphabet and checksum of an M2M token: no lookup."""
    return opaque.is_well_formed(secret, M2M_TOKEN_PREFIX)


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
    token_type: Literal["m2m_token"] = "m2m_token"  # noqa: S105
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
    """Create, list, revoke and verify M2M tokens (``Authward.m2m_tokens``).

    ``refresh_seconds``: how long a verified token is trusted before it is read again
    (``AUTHWARD_CACHE_REFRESH_SECONDS``)."""

    def __init__(
        self,
        store: M2MTokenStorePort,
        machines: MachineDirectory,
        *,
        refresh_seconds: float,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._machines = machines
        self._cache: SecretCache[_TokenEntry] = SecretCache(
            _TOKEN_REFUSALS,
            self._read,
            what="an M2M token",
            max_entries=max_cached,
            refresh_seconds=refresh_seconds,
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
        scope_list = checked_scopes(scopes)
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
        user_id = await self._store.machine_user_id(machine_user_name)
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
            subject=user_id,
            machine_user=machine_user_name,
            audience=tuple(m.id for m in targets),
            scopes=scope_list,
            created_at=now,
            expires_at=now + lifetime if lifetime is not None else None,
            revoked_at=None,
        )
        await self._store.insert_token(
            {
                "id": info.id,
                "digest": opaque.digest(token),
                "hint": info.hint,
                "subject": info.subject,
                "audience": list(info.audience),
                "scopes": list(scope_list),
                "created_at": now,
                "expires_at": info.expires_at,
            },
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
        )
        return token, info

    async def get(self, token_id: UUID | str) -> M2MTokenInfo | None:
        found = await self._infos(token_id=_token_id(token_id))
        return found[0] if found else None

    async def list(
        self, machine_user: str | None = None, include_revoked: bool = False
    ) -> builtins.list[M2MTokenInfo]:
        """Tokens, oldest first, optionally of one machine user; revoked ones only when asked."""
        subject = None
        if machine_user is not None:
            subject = await self._store.machine_user_id(machine_user)
            if subject is None:
                return []
        return await self._infos(subject=subject, include_revoked=include_revoked)

    async def _infos(
        self,
        *,
        token_id: str | None = None,
        subject: str | None = None,
        include_revoked: bool = True,
    ) -> builtins.list[M2MTokenInfo]:
        rows, names = await self._store.list_tokens(
            token_id=token_id, subject=subject, include_revoked=include_revoked
        )
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

    async def revoke(self, token_id: UUID | str, *, actor: str | None = None) -> bool:
        """Revoke a token; this process refuses it at once, others within
        cache_refresh_seconds. False when there is no such token or it was already revoked."""
        tid = _token_id(token_id)
        self._cache.revoked({tid})
        now = datetime.now(UTC)

        def event(row: Any) -> AuditEvent:
            return AuditEvent(
                "m2m.revoked",
                now,
                actor=actor,
                subject=row.subject,
                detail={"token_id": tid, "hint": row.hint},
            )

        return await self._store.revoke_token(tid, now, event)

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
            entry = await self._cache.load(digest, now)
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
        found = await self._store.token_by_digest(digest)
        if found is None:
            return None
        row, user = found

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

    async def close(self) -> None:
        """Let the reads in flight finish (``Authward.close()``)."""
        await self._cache.close()
