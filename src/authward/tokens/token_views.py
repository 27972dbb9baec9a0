"""The access-token view (:class:`TokenView`), renewed by reading only what changed (decision 041).

:class:`TokenViews` keeps what the last load read: the parsed keys, the machine users, the client
ids and the live revocations, with the source's change counters. Each load asks the source for
what changed since those counters and applies it: a key is parsed once, a table that did not
change is reused as it is, new revocations are added to the set, and revocations whose tokens
have expired (past the leeway) leave it by their expiry, without any read. The first load, and a
load after :meth:`TokenViews.reset`, read everything.
"""

from __future__ import annotations

__all__ = ["TokenView", "TokenViewChanges", "TokenViewSource", "TokenViews"]

import heapq
import time
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from authward.tokens.jws_verify import VerifyKey, verify_key_from_jwk

#: ``(kid, alg, private PEM)`` of a key that signs now.
OpenedKey = tuple[str, str, bytes]


@dataclass(frozen=True, slots=True)
class TokenView:
    keys: Mapping[str, VerifyKey]
    #: machine-user id (the token's ``sub``) -> its current client id
    machine_users: Mapping[str, str]
    #: The ``jti`` of the live revocations. The set of the newest view: a later load updates it
    #: in place instead of copying it (a view is only read, on the event loop's thread).
    revoked: Set[str] = field(default_factory=frozenset)
    #: client ids of the OAuth clients whose users' tokens (``sub`` = a user id) verify
    clients: frozenset[str] = field(default_factory=frozenset)
    #: ``(kid, alg, private PEM)`` of the key that signs now, read with the rest so that the
    #: signer is renewed in the background too; never in a repr
    signing: OpenedKey | None = field(default=None, repr=False)
    #: The same for the key that signs ID tokens of each algorithm (decision 034).
    id_token_signing: Mapping[str, OpenedKey] = field(default_factory=dict, repr=False)


class TokenViewChanges(Protocol):
    """One read of the source; ``None`` for what did not change since the versions handed in."""

    @property
    def full(self) -> bool:
        """Everything was read: it replaces what the view held, revocations included."""

    @property
    def versions(self) -> Mapping[str, int]:
        """The source's change counters as this read saw them (handed back on the next)."""

    @property
    def keys(self) -> Sequence[tuple[str, Mapping[str, Any], float | None]] | None:
        """``(kid, public JWK, published until as POSIX seconds or None)`` of each published key."""

    @property
    def signing(self) -> tuple[OpenedKey | None, Mapping[str, OpenedKey]] | None:
        """The key that signs access tokens, and the one that signs ID tokens of each alg."""

    @property
    def machine_users(self) -> Mapping[str, str] | None: ...

    @property
    def clients(self) -> frozenset[str] | None: ...

    @property
    def revoked(self) -> Sequence[tuple[str, int]]:
        """``(jti, token expiry as POSIX seconds)`` of the revocations made since (some of them
        possibly of tokens that have expired: they leave the view at once)."""


class TokenViewSource(Protocol):
    """Where the view comes from (``store/token_view.py``)."""

    async def token_view_changes(
        self, since: Mapping[str, int] | None, now: datetime, revoked_after: datetime
    ) -> TokenViewChanges:
        """What changed since the counters ``since`` (everything when ``None``): the keys
        published at ``now``; on a full read, the revocations of tokens that expire after
        ``revoked_after``."""


class TokenViews:
    """Loads the next :class:`TokenView`; called by one load at a time (the verifier's lock)."""

    def __init__(
        self,
        source: TokenViewSource,
        *,
        leeway: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        #: A token verifies until ``exp + leeway``: its revocation is kept as long.
        self._leeway = leeway
        self._clock = clock
        self._since: Mapping[str, int] | None = None
        #: kid -> (parsed key, published until or None)
        self._published: dict[str, tuple[VerifyKey, float | None]] = {}
        self._signing: tuple[OpenedKey | None, Mapping[str, OpenedKey]] = (None, {})
        self._machine_users: Mapping[str, str] = {}
        self._clients: frozenset[str] = frozenset()
        self._revoked: set[str] = set()
        #: ``(expiry, jti)`` of every revocation in ``_revoked``, soonest first (a heap).
        self._expiries: list[tuple[int, str]] = []
        #: How many loads read everything (the first, after a reset, after a counter went back).
        self.full_loads = 0

    def reset(self) -> None:
        """Read everything on the next load (after a change this process made to the store)."""
        self._since = None

    async def load(self) -> TokenView:
        now = self._clock()
        changes = await self._source.token_view_changes(
            self._since,
            datetime.fromtimestamp(now, UTC),
            datetime.fromtimestamp(now - self._leeway, UTC),
        )
        if changes.full:
            self.full_loads += 1
            # New objects: the view handed out before keeps its own set.
            self._revoked = {jti for jti, _ in changes.revoked}
            self._expiries = [(expires, jti) for jti, expires in changes.revoked]
            heapq.heapify(self._expiries)
        else:
            for jti, expires in changes.revoked:
                if jti not in self._revoked:
                    self._revoked.add(jti)
                    heapq.heappush(self._expiries, (expires, jti))
        if changes.keys is not None:
            parsed = self._published
            self._published = {
                kid: (parsed[kid][0] if kid in parsed else verify_key_from_jwk(jwk), until)
                for kid, jwk, until in changes.keys
            }
        if changes.signing is not None:
            self._signing = changes.signing
        if changes.machine_users is not None:
            self._machine_users = changes.machine_users
        if changes.clients is not None:
            self._clients = changes.clients
        self._since = changes.versions
        self._drop_expired(now)
        signing, id_token_signing = self._signing
        return TokenView(
            keys={
                kid: key
                for kid, (key, until) in self._published.items()
                if until is None or until > now
            },
            machine_users=self._machine_users,
            revoked=self._revoked,
            clients=self._clients,
            signing=signing,
            id_token_signing=id_token_signing,
        )

    def _drop_expired(self, now: float) -> None:
        expiries, revoked = self._expiries, self._revoked
        while expiries and expiries[0][0] + self._leeway <= now:
            revoked.discard(heapq.heappop(expiries)[1])
