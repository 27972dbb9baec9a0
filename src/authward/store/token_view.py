"""What the access-token view reads (tokens/token_views.py), and only what changed since last time.

One snapshot, one hand-off on SQLite (decision 004): the change counters (store/changes.py), the
published keys and the signing keys if their counter moved, the machine users and the OAuth
clients likewise, and the revocations written at a counter above the last one seen. Whether a
table moved is decided by the database, in the same snapshot as the rows, so a table that did not
move costs one indexed comparison and no rows. With nothing seen yet, or a counter lower than the
one seen (a store restored from a backup), everything is read (decision 041).
"""

from __future__ import annotations

__all__ = ["TokenViewStore", "ViewChanges"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Table, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from authward.store.changes import COUNTED
from authward.store.direct import all_rows
from authward.store.keys import CURRENT_KEYS, PUBLISHED_KEYS, OpenedKey, SigningKeyStore
from authward.store.schema import (
    changes,
    machine_users,
    oauth2_clients,
    registered_clients,
    revoked_tokens,
    signing_keys,
)


class _EpochSeconds(FunctionElement[int]):
    """A timestamp column as whole POSIX seconds, computed by the database: converting 100,000
    datetimes in Python costs more than reading them."""

    type = BigInteger()
    inherit_cache = True


@compiles(_EpochSeconds, "sqlite")
def _epoch_sqlite(element: _EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(_EpochSeconds, "postgresql")
def _epoch_postgresql(element: _EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


def _moved(table: Table, seen: str = "seen") -> ColumnElement[bool]:
    """True when ``table``'s counter differs from the one seen (parameter ``seen``)."""
    counter = select(changes.c.version).where(changes.c.table_name == table.name)
    return counter.scalar_subquery() != bindparam(seen)


_VERSIONS = select(changes.c.table_name, changes.c.version)
_PUBLISHED = PUBLISHED_KEYS.where(_moved(signing_keys))
_CURRENT = CURRENT_KEYS.where(_moved(signing_keys))
_MACHINE_USERS = select(machine_users.c.id, machine_users.c.client_id).where(_moved(machine_users))
# The config's clients and the registered ones (decision 049), read together when either moved.
_CLIENTS_MOVED = or_(_moved(oauth2_clients), _moved(registered_clients, "seen_registered"))
_CLIENTS = select(oauth2_clients.c.client_id).where(_CLIENTS_MOVED)
_REGISTERED_CLIENTS = select(registered_clients.c.client_id).where(_CLIENTS_MOVED)
_REVOKED_COLUMNS = (
    revoked_tokens.c.jti,
    _EpochSeconds(revoked_tokens.c.expires_at).label("expires"),
)
#: Every revocation whose token may still verify (parameter ``after``): the full read.
_LIVE_REVOKED = select(*_REVOKED_COLUMNS).where(revoked_tokens.c.expires_at > bindparam("after"))
#: Revocations written after the counter ``seen``. Only that condition, so that the database walks
#: the version index (the expiry's would cover every live row); a row among them whose token has
#: expired leaves the view as it arrives.
_REVOKED_SINCE = select(*_REVOKED_COLUMNS).where(revoked_tokens.c.version > bindparam("seen"))

#: Below every counter: everything is read.
_NOTHING_SEEN = -1


@dataclass(frozen=True, slots=True)
class ViewChanges:
    """One read; ``None`` for a table that did not change since the versions seen."""

    #: Everything was read: what the view held before is replaced, revocations included.
    full: bool
    #: The counters this read saw, to hand back to the next one.
    versions: Mapping[str, int]
    #: ``(kid, public JWK, publish_until as POSIX seconds or None)``, newest first.
    keys: Sequence[tuple[str, Mapping[str, Any], float | None]] | None
    #: The key that signs access tokens, and the one that signs ID tokens of each algorithm.
    signing: tuple[OpenedKey | None, Mapping[str, OpenedKey]] | None
    #: machine-user id -> its client id
    machine_users: Mapping[str, str] | None
    clients: frozenset[str] | None
    #: ``(jti, expiry as POSIX seconds)`` of the revocations written since.
    revoked: Sequence[tuple[str, int]]


class TokenViewStore:
    """Implements the token view's source port (``tokens.token_views.TokenViewSource``)."""

    def __init__(self, engine: AsyncEngine, keys: SigningKeyStore) -> None:
        self._engine = engine
        self._keys = keys

    async def token_view_changes(
        self, since: Mapping[str, int] | None, now: datetime, revoked_after: datetime
    ) -> ViewChanges:
        """What changed since the counters ``since`` (everything when ``None``): keys published
        at ``now``; on a full read the revocations of tokens expiring after ``revoked_after``, on
        a later one every revocation written since (one whose token has expired among them)."""
        seen = {t.name: _NOTHING_SEEN for t in COUNTED} if since is None else since
        found = await self._read(seen, now, revoked_after, full=since is None)
        versions = {r.table_name: r.version for r in found[0]}
        if since is not None and any(versions.get(name, -1) < v for name, v in since.items()):
            # A counter went back (a store restored, or replaced): nothing seen can be trusted.
            return await self.token_view_changes(None, now, revoked_after)
        _, published, current, directory, clients, registered, revoked = found

        def moved(table: Table) -> bool:
            return versions.get(table.name) != seen.get(table.name)

        return ViewChanges(
            full=since is None,
            versions=versions,
            keys=[
                (
                    r.kid,
                    r.public_jwk,
                    None if r.publish_until is None else r.publish_until.timestamp(),
                )
                for r in published
            ]
            if moved(signing_keys)
            else None,
            signing=self._keys.open_current(current) if moved(signing_keys) else None,
            machine_users={str(r.id): r.client_id for r in directory}
            if moved(machine_users)
            else None,
            clients=frozenset(r.client_id for r in (*clients, *registered))
            if moved(oauth2_clients) or moved(registered_clients)
            else None,
            revoked=revoked,
        )

    async def _read(
        self, seen: Mapping[str, int], now: datetime, revoked_after: datetime, *, full: bool
    ) -> list[list[Any]]:
        def since(table: Table) -> int:
            return seen.get(table.name, _NOTHING_SEEN)

        clients_seen = {
            "seen": since(oauth2_clients),
            "seen_registered": since(registered_clients),
        }

        return await all_rows(
            self._engine,
            [
                (_VERSIONS, {}),
                (_PUBLISHED, {"now": now, "seen": since(signing_keys)}),
                (_CURRENT, {"seen": since(signing_keys)}),
                (_MACHINE_USERS, {"seen": since(machine_users)}),
                (_CLIENTS, clients_seen),
                (_REGISTERED_CLIENTS, clients_seen),
                (_LIVE_REVOKED, {"after": revoked_after})
                if full
                else (_REVOKED_SINCE, {"seen": since(revoked_tokens)}),
            ],
        )
