"""Signing keys: private halves sealed with the instance key, public halves published.

At most one current (unretired) key per algorithm; the one marked ``signs_access`` signs access
and session tokens, and every current key signs the ID tokens of its algorithm (decision 034).
"""

from __future__ import annotations

__all__ = ["CURRENT_KEYS", "PUBLISHED_KEYS", "OpenedKey", "SigningKeyStore"]

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.crypto.secretbox import SecretBox
from authward.store.changes import bump
from authward.store.engine import reading
from authward.store.records import StoredKey
from authward.store.schema import signing_keys


def _aad(kid: str) -> str:
    return f"aw_signing_keys.private_key:{kid}"


#: The keys whose tokens may still be alive, newest first, of keys made together the access-token
#: key first (parameter: ``now``).
PUBLISHED_KEYS = (
    select(signing_keys)
    .where(
        or_(signing_keys.c.publish_until.is_(None), signing_keys.c.publish_until > bindparam("now"))
    )
    .order_by(
        signing_keys.c.created_at.desc(), signing_keys.c.signs_access.desc(), signing_keys.c.kid
    )
)
#: The keys that sign now, newest first (sealed: :meth:`SigningKeyStore.open_current` opens
#: them).
CURRENT_KEYS = (
    select(
        signing_keys.c.kid,
        signing_keys.c.alg,
        signing_keys.c.private_key,
        signing_keys.c.signs_access,
    )
    .where(signing_keys.c.retired_at.is_(None))
    .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
)
#: ``(kid, alg, private PEM)`` of a key that signs now.
OpenedKey = tuple[str, str, bytes]


def _stored_key(row: Any) -> StoredKey:
    """The public half of a row of :data:`PUBLISHED_KEYS`."""
    return StoredKey(
        kid=row.kid,
        alg=row.alg,
        public_jwk=row.public_jwk,
        created_at=row.created_at,
        retired_at=row.retired_at,
        publish_until=row.publish_until,
        signs_access=row.signs_access,
    )


class SigningKeyStore:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    async def published(
        self, now: datetime, conn: AsyncConnection | None = None
    ) -> list[StoredKey]:
        """Public halves of the keys whose tokens may still be alive, newest first."""
        async with reading(self._engine, conn) as c:
            rows = (await c.execute(PUBLISHED_KEYS, {"now": now})).all()
        return [_stored_key(r) for r in rows]

    async def add(
        self,
        conn: AsyncConnection,
        *,
        kid: str,
        alg: str,
        private_pem: bytes,
        public_jwk: dict[str, object],
        now: datetime,
        signs_access: bool,
    ) -> None:
        await conn.execute(
            signing_keys.insert().values(
                kid=kid,
                alg=alg,
                private_key=self._box.seal(private_pem, _aad(kid)),
                public_jwk=public_jwk,
                created_at=now,
                signs_access=signs_access,
            )
        )
        await bump(conn, signing_keys)

    async def retire(self, conn: AsyncConnection, *, now: datetime, until: datetime) -> None:
        """Retire the current keys: they stop signing and stay published until ``until``, when
        the tokens they signed have expired."""
        await conn.execute(
            update(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .values(retired_at=now, publish_until=until)
        )
        await bump(conn, signing_keys)

    async def current(self, conn: AsyncConnection) -> dict[str, bool]:
        """The algorithms of the current keys, each with whether its key signs access tokens."""
        query = select(signing_keys.c.alg, signing_keys.c.signs_access).where(
            signing_keys.c.retired_at.is_(None)
        )
        rows = (await conn.execute(query)).all()
        out: dict[str, bool] = {}
        for r in rows:
            out[r.alg] = out.get(r.alg, False) or r.signs_access
        return out

    def open_current(self, rows: Sequence[Any]) -> tuple[OpenedKey | None, dict[str, OpenedKey]]:
        """From the rows of :data:`CURRENT_KEYS`: the key that signs access tokens, and the key
        that signs ID tokens of each algorithm (the newest, should two processes have raced)."""
        access: OpenedKey | None = None
        by_alg: dict[str, OpenedKey] = {}
        for row in rows:
            if row.alg in by_alg and (access is not None or not row.signs_access):
                continue
            opened = (row.kid, row.alg, self._box.open(row.private_key, _aad(row.kid)))
            by_alg.setdefault(row.alg, opened)
            if access is None and row.signs_access:
                access = opened
        return access, by_alg
