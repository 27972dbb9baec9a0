"""Attempt limits kept in the store (table ``aw_login_throttle``), so every process sharing one
database applies the same ones (docs/decisions/010 and 037).

Each key (an account's username, a client address, an OAuth client id, as a SHA-256 digest of
scope and value) has a row counting its attempts within a window. An attempt is counted before
it is checked, by one conditional upsert: a locked key is refused and not counted; otherwise
the count goes up by one and, from the ``threshold``-th attempt on, the key is locked for a
delay that doubles with each further one, up to ``max_delay``. Concurrent attempts in any
process are serialised by the row (PostgreSQL) or the write lock (SQLite), so no more than
``threshold`` of them get through before the lock. A caller gives an attempt back (or clears
the key) when it turns out not to be a failure. The count is forgotten ``window`` after the
last attempt (or after the lock ends).
"""

from __future__ import annotations

__all__ = ["Attempts", "LimitKey", "LimitPolicy", "Taken", "address_key", "limit_key"]

import hashlib
import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Update,
    bindparam,
    case,
    delete,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.store.direct import Query, Rows, all_rows, first_row, insert_all, write_returning
from authward.store.schema import login_throttle as _t
from authward.store.types import UTCDateTime


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    threshold: int
    window: timedelta
    first_delay: timedelta
    max_delay: timedelta

    def delay(self, attempts: int) -> timedelta:
        """The lock after ``attempts`` attempts (none below the threshold)."""
        if attempts < self.threshold:
            return timedelta(0)
        doublings = min(attempts - self.threshold, 32)
        delay: timedelta = self.first_delay * 2**doublings
        return min(delay, self.max_delay)

    def levels(self) -> tuple[timedelta, ...]:
        """The distinct locks from the threshold on: the last one is the longest."""
        found = [self.delay(self.threshold)]
        while found[-1] < self.max_delay and len(found) < 33:
            found.append(self.delay(self.threshold + len(found)))
        return tuple(found)


@dataclass(frozen=True, slots=True)
class LimitKey:
    scope: str
    digest: str
    policy: LimitPolicy


def limit_key(scope: str, value: str, policy: LimitPolicy) -> LimitKey:
    """The key of ``value`` in ``scope``; only its digest is stored (a username typed at sign-in
    may be a password typed in the wrong field)."""
    return LimitKey(scope, hashlib.sha256(f"{scope}\x00{value}".encode()).hexdigest(), policy)


def address_key(ip: str) -> str:
    """The value an address is counted under: IPv6 clients get a /64 each, so one client is one
    /64, not 2**64 addresses."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class Taken:
    #: Every key counted the attempt; otherwise none did (it was refused).
    granted: bool
    #: When granted: the latest lock the attempt set (the next ones are refused until then).
    #: When refused: the latest lock that refused it.
    locked_until: datetime | None
    #: When granted: the keys (digests) the attempt locked, with their locks' ends.
    locks: Mapping[str, datetime] = field(default_factory=dict)
    #: The first row of the query given to :meth:`Attempts.take` as ``then``, or ``None``.
    read: Any = None

    def retry_after_seconds(self, now: datetime) -> int:
        if self.locked_until is None:
            return 0
        return max(1, math.ceil((self.locked_until - now).total_seconds()))


def _at(name: str) -> Any:
    return bindparam(name, type_=UTCDateTime)


def _by_count(policy: LimitPolicy, scope: str, count: ColumnElement[Any]) -> tuple[Any, Any]:
    """The lock and the window's end after ``count`` attempts, as SQL over the bound
    ``{scope}_lock{i}`` and ``{scope}_until{i}`` (one per lock level) and ``{scope}_window``."""
    threshold = policy.threshold
    levels = range(len(policy.levels()))
    last = len(policy.levels()) - 1
    lock = case(
        (count < threshold, null()),
        *((count == threshold + i, _at(f"{scope}_lock{i}")) for i in levels if i < last),
        else_=_at(f"{scope}_lock{last}"),
    )
    until = case(
        (count < threshold, _at(f"{scope}_window")),
        *((count == threshold + i, _at(f"{scope}_until{i}")) for i in levels if i < last),
        else_=_at(f"{scope}_until{last}"),
    )
    return lock, until


def _locked_in(scopes: tuple[str, ...]) -> Select[Any]:
    return select(_t.c.key, _t.c.locked_until).where(
        _t.c.locked_until > _at("now"), or_(*(_t.c.scope == s for s in scopes))
    )


class Attempts:
    """Attempt counts, each key under the policy it carries (:func:`limit_key`): the scopes'
    policies are their owners' settings (``account`` and ``ip`` for sign-in, ``client``,
    ``client_ip`` and ``api_key_ip`` for client and API-key authentication)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        #: The take statement for each shape of attempt: its keys' scopes and policies.
        self._takes: dict[tuple[int, tuple[tuple[str, LimitPolicy], ...]], Insert] = {}
        self._levels: dict[LimitPolicy, tuple[timedelta, ...]] = {}
        now = _at("now")
        pg = engine.dialect.name == "postgresql"
        # Statements built once: building them costs more CPU than running them.
        # PostgreSQL: every statement locks its rows in key order (take sorts its keys), so a
        # release and a take of the same account and address in flight at once cannot deadlock.
        released = or_(_t.c.key == bindparam("cleared"), _t.c.key == bindparam("returned"))
        if pg:
            released = _t.c.key.in_(
                select(_t.c.key).where(released).order_by(_t.c.key).with_for_update()
            )
        expired = _t.c.window_until < now
        if pg:
            # Rows a take holds are left for the next prune rather than waited for.
            expired = _t.c.key.in_(
                select(_t.c.key).where(expired).order_by(_t.c.key).with_for_update(skip_locked=True)
            )
        self._prune = delete(_t).where(expired)
        self._give_back: Update = (
            update(_t)
            .where(released)
            .values(
                failures=case(
                    (_t.c.key == bindparam("returned"), func.max(_t.c.failures - 1, 0)),
                    else_=0,
                )
                if engine.dialect.name == "sqlite"
                else case(
                    (_t.c.key == bindparam("returned"), func.greatest(_t.c.failures - 1, 0)),
                    else_=0,
                ),
                # Below the threshold again: the lock this attempt set goes with it.
                locked_until=case(
                    (
                        (_t.c.key == bindparam("returned"))
                        & (_t.c.failures > bindparam("threshold")),
                        _t.c.locked_until,
                    ),
                    else_=null(),
                ),
            )
        )
        self._locked: dict[tuple[str, ...], Select[Any]] = {}
        self._latest: dict[int, Select[Any]] = {}

    # -- statements -----------------------------------------------------------------------------

    def _take(self, n: int, policies: tuple[tuple[str, LimitPolicy], ...]) -> Insert:
        found = self._takes.get((n, policies))
        if found is None:
            for scope, _ in policies:
                if not scope.isidentifier() or len(scope) > 16:
                    raise ValueError("scopes are identifiers of at most 16 characters")
            upsert = (
                postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
            )
            now = _at("now")
            count = case((_t.c.window_until <= now, 1), else_=_t.c.failures + 1)
            by_scope = {s: _by_count(p, s, count) for s, p in policies}
            if len(by_scope) == 1:
                [(lock, until)] = by_scope.values()
            else:
                lock = case(*((_t.c.scope == s, lu[0]) for s, lu in by_scope.items()))
                until = case(*((_t.c.scope == s, lu[1]) for s, lu in by_scope.items()))
            rows = [
                {
                    "key": bindparam(f"key{i}"),
                    "scope": bindparam(f"scope{i}"),
                    "failures": 1,
                    "window_until": _at(f"until{i}"),
                    "locked_until": _at(f"lock{i}"),
                }
                for i in range(n)
            ]
            found = (
                upsert(_t)
                .values(rows)
                .on_conflict_do_update(
                    index_elements=[_t.c.key],
                    set_={"failures": count, "locked_until": lock, "window_until": until},
                    # A locked key is refused, and its refusal is not counted.
                    where=or_(_t.c.locked_until.is_(None), _t.c.locked_until <= now),
                )
                .returning(_t.c.key, _t.c.locked_until)
            )
            self._takes[(n, policies)] = found
        return found

    def _latest_lock(self, n: int) -> Select[Any]:
        found = self._latest.get(n)
        if found is None:
            found = select(func.max(_t.c.locked_until).label("locked_until")).where(
                or_(*(_t.c.key == bindparam(f"key{i}") for i in range(n)))
            )
            self._latest[n] = found
        return found

    def _policy_levels(self, policy: LimitPolicy) -> tuple[timedelta, ...]:
        found = self._levels.get(policy)
        if found is None:
            found = self._levels[policy] = policy.levels()
        return found

    def _params(
        self,
        keys: Sequence[LimitKey],
        policies: tuple[tuple[str, LimitPolicy], ...],
        now: datetime,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"now": now}
        for scope, policy in policies:
            params[f"{scope}_window"] = now + policy.window
            for i, delay in enumerate(self._policy_levels(policy)):
                params[f"{scope}_lock{i}"] = now + delay
                params[f"{scope}_until{i}"] = now + delay + policy.window
        for i, key in enumerate(keys):
            first = key.policy.delay(1)
            params[f"key{i}"] = key.digest
            params[f"scope{i}"] = key.scope
            params[f"lock{i}"] = now + first if first else None
            params[f"until{i}"] = now + first + key.policy.window
        return params

    # -- counting -------------------------------------------------------------------------------

    async def take(
        self, keys: Sequence[LimitKey], now: datetime, *, then: Query | None = None
    ) -> Taken:
        """Count one attempt against every key, unless one of them is locked: one statement.
        A refused attempt counts against none of them. ``then`` is read right after, in the
        same hand-off on SQLite (a sign-in's user)."""
        if not keys:
            return Taken(True, None, read=await first_row(self._engine, *then) if then else None)
        by_scope: dict[str, LimitPolicy] = {}
        for key in keys:
            if by_scope.setdefault(key.scope, key.policy) != key.policy:
                raise ValueError(f"two policies for the scope {key.scope}")
        policies = tuple(sorted(by_scope.items(), key=lambda item: item[0]))
        keys = sorted(keys, key=lambda k: k.digest)
        rows, read = await write_returning(
            self._engine,
            self._take(len(keys), policies),
            self._params(keys, policies, now),
            then=then,
        )
        locks = {r.key: r.locked_until for r in rows if r.locked_until is not None}
        if len(rows) == len(keys):
            return Taken(True, max(locks.values(), default=None), locks, read)
        # Another key was locked: what this statement counted on the others goes back.
        for row in rows:
            key = next(k for k in keys if k.digest == row.key)
            await insert_all(self._engine, [self.give_back_rows(None, key)])
        params = {f"key{i}": k.digest for i, k in enumerate(keys)}
        latest = await first_row(self._engine, self._latest_lock(len(keys)), params)
        return Taken(False, latest.locked_until if latest is not None else None, read=read)

    def give_back_rows(self, cleared: LimitKey | None, returned: LimitKey | None) -> Rows:
        """Undo what :meth:`take` counted: ``cleared``'s count is forgotten (a success clears
        an account's failures), ``returned`` loses one attempt (and the lock it set, if that
        brings it below its threshold). For :func:`insert_all`, in the caller's transaction."""
        params = {
            "cleared": cleared.digest if cleared is not None else None,
            "returned": returned.digest if returned is not None else None,
            "threshold": returned.policy.threshold if returned is not None else 0,
        }
        return (self._give_back, [params])

    def prune_rows(self, now: datetime) -> Rows:
        """Forget expired counts (through the index on ``window_until``), for :func:`insert_all`."""
        return (self._prune, [{"now": now}])

    async def prune(self, now: datetime) -> None:
        await insert_all(self._engine, [self.prune_rows(now)])

    async def locked(self, now: datetime, scopes: Sequence[str]) -> dict[str, datetime]:
        """Every key of ``scopes`` locked at ``now``, with its lock's end: what a process keeps
        in memory to refuse attempts without a statement."""
        named = tuple(scopes)
        query = self._locked.get(named)
        if query is None:
            query = self._locked[named] = _locked_in(named)
        [rows] = await all_rows(self._engine, [(query, {"now": now})])
        return {r.key: r.locked_until for r in rows}
