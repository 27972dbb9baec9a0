"""Signing keys: private halves sealed with the instance key, public halves published."""

from __future__ import annotations

__all__ = ["SigningKeyStore"]

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.crypto.secretbox import SecretBox
from authward.store.engine import reading
from authward.store.records import StoredKey
from authward.store.schema import signing_keys


def _aad(kid: str) -> str:
    return f"aw_signing_keys.private_key:{kid}"


class SigningKeyStore:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    async def published(
        self, now: datetime, conn: AsyncConnection | None = None
    ) -> list[StoredKey]:
        """Public halves of the keys whose tokens may still be alive, newest first."""
        query = (
            select(signing_keys)
            .where(or_(signing_keys.c.publish_until.is_(None), signing_keys.c.publish_until > now))
            .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
        )
        async with reading(self._engine, conn) as c:
            rows = (await c.execute(query)).mappings().all()
        return [
            StoredKey(
                kid=r["kid"],
                alg=r["alg"],
                public_jwk=r["public_jwk"],
                created_at=r["created_at"],
                retired_at=r["retired_at"],
                publish_until=r["publish_until"],
            )
            for r in rows
        ]

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

    async def signing_key(
        self, conn: AsyncConnection | None = None
    ) -> tuple[str, str, bytes] | None:
        """``(kid, alg, private PEM)`` of the key that signs now, opened with the instance key."""
        query = (
            select(signing_keys.c.kid, signing_keys.c.alg, signing_keys.c.private_key)
            .where(signing_keys.c.retired_at.is_(None))
            .order_by(signing_keys.c.created_at.desc())
            .limit(1)
        )
        async with reading(self._engine, conn) as own:
            row = (await own.execute(query)).first()
        if row is None:
            return None
        return row.kid, row.alg, self._box.open(row.private_key, _aad(row.kid))

    async def has_active(self, conn: AsyncConnection) -> bool:
        query = select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None)).limit(1)
        return (await conn.execute(query)).first() is not None
