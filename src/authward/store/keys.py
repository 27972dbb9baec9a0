"""Signing keys: private halves sealed with the instance key, public halves published."""

from __future__ import annotations

__all__ = ["PUBLISHED_KEYS", "SIGNING_KEY", "SigningKeyStore"]

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.crypto.secretbox import SecretBox
from authward.store.engine import reading
from authward.store.records import StoredKey
from authward.store.schema import signing_keys


def _aad(kid: str) -> str:
    return f"aw_signing_keys.private_key:{kid}"


#: The keys whose tokens may still be alive, newest first (parameter: ``now``).
PUBLISHED_KEYS = (
    select(signing_keys)
    .where(
        or_(signing_keys.c.publish_until.is_(None), signing_keys.c.publish_until > bindparam("now"))
    )
    .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
)
#: The key that signs now (sealed: :meth:`SigningKeyStore.open_signing_key` opens it).
SIGNING_KEY = (
    select(signing_keys.c.kid, signing_keys.c.alg, signing_keys.c.private_key)
    .where(signing_keys.c.retired_at.is_(None))
    .order_by(signing_keys.c.created_at.desc())
    .limit(1)
)


def _stored_key(row: Any) -> StoredKey:
    """The public half of a row of :data:`PUBLISHED_KEYS`."""
    return StoredKey(
        kid=row.kid,
        alg=row.alg,
        public_jwk=row.public_jwk,
        created_at=row.created_at,
        retired_at=row.retired_at,
        publish_until=row.publish_until,
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
        retire_others_until: datetime,
    ) -> None:
        """Make a new key the signing key; older ones stay published until their tokens expire."""
        await conn.execute(
            update(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .values(retired_at=now, publish_until=retire_others_until)
        )
        await conn.execute(
            signing_keys.insert().values(
                kid=kid,
                alg=alg,
                private_key=self._box.seal(private_pem, _aad(kid)),
                public_jwk=public_jwk,
                created_at=now,
            )
        )

    def open_signing_key(self, row: Any) -> tuple[str, str, bytes] | None:
        """``(kid, alg, private PEM)`` from a row of :data:`SIGNING_KEY` (or ``None``)."""
        if row is None:
            return None
        return row.kid, row.alg, self._box.open(row.private_key, _aad(row.kid))

    async def has_active(self, conn: AsyncConnection) -> bool:
        query = select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None)).limit(1)
        return (await conn.execute(query)).first() is not None
