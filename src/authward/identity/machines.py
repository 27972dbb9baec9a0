"""Machines: the receiving services M2M tokens (:mod:`authward.identity.m2m_tokens`) are verified
at.

A **machine** is registered once (:meth:`Machines.create`) and gets a *machine secret key*
(``msk_...``, shown once, only its SHA-256 digest stored), which it holds in its environment and
passes to ``authward_tokens(..., machine_secret_key=...)``. The key says which machine is
verifying a token (:meth:`Machines.identify`).

The key has the API key format (docs/api-keys.md): prefix + 43 base62 characters (256 random
bits) + a 6-character CRC32 checksum, so a mistyped one is refused without any lookup.

Identification keeps a bounded in-memory cache of the accepted keys, so a known key completes
without I/O. A cached entry older than ``AUTHWARD_CACHE_REFRESH_SECONDS`` is re-read on its next
use; a machine revoked through *this* process is refused at once, one revoked elsewhere within
that interval (or at once after :meth:`Machines.invalidate`). A malformed, unknown or revoked key
raises :class:`~authward.errors.TokenError` ``machine-secret-invalid``.

The SQL is :class:`authward.store.m2m.M2MStore`'s, behind
:class:`~authward.identity.m2m_ports.MachineStorePort`.
"""

from __future__ import annotations

__all__ = [
    "MACHINE_ID_PREFIX",
    "MACHINE_SECRET_KEY_PREFIX",
    "Machine",
    "Machines",
    "checked_scopes",
    "generate_machine_secret_key",
    "is_machine_secret_key",
]

import builtins
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import uuid4

from authward.errors import ConfigError, TokenError
from authward.identity.m2m_ports import MachineStorePort
from authward.identity.secret_cache import Found, Refusals, SecretCache
from authward.store.audit import AuditEvent
from authward.tokens import opaque

MACHINE_SECRET_KEY_PREFIX = "msk_"  # noqa: S105 (a prefix, not a secret)
MACHINE_ID_PREFIX = "mch_"
#: RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
#: Machine names are used on command lines and in logs: a slug.
_MACHINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def generate_machine_secret_key() -> str:
    """A fresh ``msk_`` machine secret key in the authward format (nothing is stored)."""
    return opaque.generate(MACHINE_SECRET_KEY_PREFIX)


def is_machine_secret_key(secret: str) -> bool:
    """Prefix, length, alphabet and checksum of a machine secret key: no lookup."""
    return opaque.is_well_formed(secret, MACHINE_SECRET_KEY_PREFIX)


def checked_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """``scopes`` without repeats, in order; ConfigError for one that is not an RFC 6749 scope
    token, or for one string passed instead of a list."""
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


def _lookup(name_or_id: str) -> tuple[Literal["id", "name"], str]:
    return ("id" if name_or_id.startswith(MACHINE_ID_PREFIX) else "name"), name_or_id


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


class Machines:
    """Register, list, revoke and identify machines (``Authward.machines``).

    ``refresh_seconds``: how long an identified key is trusted before it is read again
    (``AUTHWARD_CACHE_REFRESH_SECONDS``)."""

    def __init__(
        self,
        store: MachineStorePort,
        *,
        refresh_seconds: float,
        max_cached: int = 1_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        #: digest of a machine secret key -> its (active) machine.
        self._cache: SecretCache[Machine] = SecretCache(
            _MACHINE_REFUSALS,
            self._read,
            what="a machine secret key",
            max_entries=max_cached,
            refresh_seconds=refresh_seconds,
            clock=clock,
        )

    async def create(
        self, name: str, scopes: Iterable[str] = (), *, actor: str | None = None
    ) -> tuple[str, Machine]:
        """Register a machine. Returns its secret key (shown once, never stored) and the
        machine."""
        name = _machine_name(name)
        scope_list = checked_scopes(scopes)
        now = datetime.now(UTC)
        secret = generate_machine_secret_key()
        machine = Machine(
            id=MACHINE_ID_PREFIX + uuid4().hex,
            name=name,
            scopes=scope_list,
            created_at=now,
            revoked_at=None,
        )
        created = await self._store.insert_machine(
            {
                "id": machine.id,
                "name": name,
                "secret_digest": opaque.digest(secret),
                "scopes": list(scope_list),
                "created_at": now,
            },
            AuditEvent(
                "machine.created",
                now,
                actor=actor,
                subject=machine.id,
                detail={"machine_id": machine.id, "name": name, "scopes": list(scope_list)},
            ),
        )
        if not created:
            raise ConfigError(f"a machine named {name!r} already exists", path="name")
        return secret, machine

    async def get(self, name_or_id: str) -> Machine | None:
        """A machine by name or by id (``mch_...``), revoked or not."""
        row = await self._store.machine(*_lookup(name_or_id))
        return _machine(row) if row is not None else None

    async def list(self, include_revoked: bool = False) -> builtins.list[Machine]:
        """Machines, oldest first; revoked ones only when asked."""
        return [_machine(r) for r in await self._store.list_machines(include_revoked)]

    async def revoke(self, name_or_id: str, *, actor: str | None = None) -> bool:
        """Revoke a machine: its secret key stops verifying anything (here at once, elsewhere
        within cache_refresh_seconds). False when there is no such machine or it was already
        revoked."""
        now = datetime.now(UTC)

        def event(machine_id: str, name: str) -> AuditEvent:
            return AuditEvent(
                "machine.revoked",
                now,
                actor=actor,
                subject=machine_id,
                detail={"machine_id": machine_id, "name": name},
            )

        return await self._store.revoke_machine(
            *_lookup(name_or_id),
            now,
            lambda machine_id: self._cache.revoked({machine_id}),
            event,
        )

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
        return await self._cache.load(digest, now)

    async def _read(self, digest: str) -> Found[Machine] | None:
        row = await self._store.machine_by_digest(digest)
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
        rows = [_machine(r) for r in await self._store.find_machines(ids, names)]
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

    async def close(self) -> None:
        """Let the reads in flight finish (``Authward.close()``)."""
        await self._cache.close()
