"""The instance's signing keys: the ones a store lacks are added, rotation retires the current
ones, the published ones are the JWKS, and whoever signs gets the current key from here.

The current keys ride in the access-token view (``tokens/token_views.py``), so they are renewed
in the background with it and a token request waits for the store only when the view is past
its full interval (decision 004). Rotation keeps the old keys published until every token they
signed has expired (decision 034 for the ID-token keys)."""

from __future__ import annotations

__all__ = ["KeyStorePort", "SigningKeys"]

import asyncio
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from authward.errors import SettingsError
from authward.refreshing import Refreshing
from authward.store.audit import AuditEvent
from authward.store.keys import OpenedKey
from authward.store.records import StoredKey
from authward.tokens.keys import KeyAlg, SigningKey, generate_signing_key, load_signing_key


class KeyStorePort(Protocol):
    """Where the keys are kept (:class:`authward.store.keys.SigningKeyStore`); ``conn`` is a
    write transaction of the store."""

    async def published(self, now: datetime) -> list[StoredKey]: ...
    async def add(
        self,
        conn: Any,
        *,
        kid: str,
        alg: str,
        private_pem: bytes,
        public_jwk: dict[str, object],
        now: datetime,
        signs_access: bool,
    ) -> None: ...
    async def retire(self, conn: Any, *, now: datetime, until: datetime) -> None: ...
    async def current(self, conn: Any) -> dict[str, bool]: ...


class CurrentKeys(Protocol):
    @property
    def signing(self) -> OpenedKey | None: ...
    @property
    def id_token_signing(self) -> Mapping[str, OpenedKey]: ...


class KeyView(Protocol):
    """The access-token view the current keys ride in (``tokens.verifier.Verifier``)."""

    async def get(self) -> CurrentKeys: ...
    def invalidate(self) -> None: ...


class AuditWriter(Protocol):
    async def record(self, event: AuditEvent, conn: Any = None) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


class SigningKeys:
    def __init__(
        self,
        store: KeyStorePort,
        view: KeyView,
        audit: AuditWriter,
        transaction: Callable[[], AbstractAsyncContextManager[Any]],
        *,
        access_alg: KeyAlg,
        id_token_algs: Sequence[KeyAlg],
        max_token_lifetime_seconds: int,
        refresh_seconds: float,
    ) -> None:
        """``id_token_algs``: the algorithms the clients ask their ID tokens in;
        ``max_token_lifetime_seconds``: how long a retired key stays published."""
        self._store = store
        self._view = view
        self._audit = audit
        self._transaction = transaction
        self._access_alg = access_alg
        self._id_token_algs = sorted(set(id_token_algs))
        self._max_lifetime = max_token_lifetime_seconds
        self._signer: SigningKey | None = None
        self._id_token_signers: dict[str, SigningKey] = {}
        self._jwks = Refreshing(
            self._published, refresh_seconds=refresh_seconds, what="the published keys"
        )

    async def signer(self) -> SigningKey:
        """The key that signs access and session tokens now."""
        stored = (await self._view.get()).signing
        if stored is None:
            raise SettingsError("no signing key: run `authward serve` or `authward migrate`")
        kid, alg, pem = stored
        if self._signer is None or self._signer.kid != kid:
            self._signer = load_signing_key(kid, alg, pem)
        return self._signer

    async def id_token_signer(self, alg: KeyAlg) -> SigningKey:
        """The key that signs ID tokens of ``alg`` now, renewed with the view like the one above."""
        stored = (await self._view.get()).id_token_signing.get(alg)
        if stored is None:
            stored = await self._add_id_token_key(alg)
        kid, stored_alg, pem = stored
        signer = self._id_token_signers.get(alg)
        if signer is None or signer.kid != kid:
            signer = self._id_token_signers[alg] = load_signing_key(kid, stored_alg, pem)
        return signer

    async def jwks(self) -> dict[str, Any]:
        """The published keys, renewed like every view (decision 044: read again in the
        background past half of ``refresh_seconds``), and at once after a change through this
        process."""
        return await self._jwks.get()

    async def _published(self) -> dict[str, Any]:
        return {"keys": [dict(k.public_jwk) for k in await self._store.published(_now())]}

    def changed(self) -> None:
        """The keys changed through this process: read them again at once."""
        self._view.invalidate()
        self._jwks.invalidate()

    async def close(self) -> None:
        """Let a read of the published keys in flight finish (``Authward.close()``)."""
        await self._jwks.close()

    async def add_missing(self, conn: Any, now: datetime) -> list[str]:
        """In the caller's transaction: a key for access tokens, and one for the ID tokens of
        each algorithm the clients use (the access-token key serves its own algorithm)."""
        current = await self._store.current(conn)
        changes = []
        if not any(current.values()):
            await self._add(conn, self._access_alg, now, signs_access=True)
            current[self._access_alg] = True
            changes.append(f"created signing key ({self._access_alg})")
        for alg in self._id_token_algs:
            if alg not in current:
                await self._add(conn, alg, now, signs_access=False)
                changes.append(f"created ID-token signing key ({alg})")
        return changes

    async def rotate(self, alg: KeyAlg | None = None) -> list[SigningKey]:
        """New keys sign from now on: first the access-token key (``alg``, by default the
        configured one), then one for the ID tokens of each other algorithm the clients use.
        The old keys stay published until their tokens expire."""
        now = _now()
        access_alg = alg or self._access_alg
        algs = [access_alg, *(a for a in self._id_token_algs if a != access_alg)]
        until = now + timedelta(seconds=self._max_lifetime)
        async with self._transaction() as conn:
            await self._store.retire(conn, now=now, until=until)
            keys = [await self._add(conn, a, now, signs_access=a == access_alg) for a in algs]
            await self._audit.record(
                AuditEvent(
                    "keys.rotated",
                    now,
                    actor="cli",
                    detail={"kid": keys[0].kid, "id_token_kids": [k.kid for k in keys[1:]]},
                ),
                conn,
            )
        self.changed()
        return keys

    async def _add(
        self, conn: Any, alg: KeyAlg, now: datetime, *, signs_access: bool
    ) -> SigningKey:
        # An RSA key takes tens of milliseconds to generate: not on the event loop.
        key = await asyncio.to_thread(generate_signing_key, alg)
        await self._store.add(
            conn,
            kid=key.kid,
            alg=key.alg,
            private_pem=key.private_pem,
            public_jwk=key.public_jwk,
            now=now,
            signs_access=signs_access,
        )
        return key

    async def _add_id_token_key(self, alg: KeyAlg) -> OpenedKey:
        # Sync adds the keys the config's clients need; this covers a store that another app's
        # config (or a rotation there) left without a key of this algorithm.
        async with self._transaction() as conn:
            if alg not in await self._store.current(conn):
                await self._add(conn, alg, _now(), signs_access=False)
        self.changed()
        stored = (await self._view.get()).id_token_signing.get(alg)
        if stored is None:
            raise SettingsError(f"no {alg} signing key: run `authward migrate`")
        return stored
