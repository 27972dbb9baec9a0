"""Authorization codes, refresh tokens and the access tokens issued from them (``aw_grants``).

Rows are keyed by the SHA-256 of the credential, never the credential. A *family* is everything
issued from one authorization code: the code, each refresh token of its rotation chain, and the
ids (``jti``) of the access tokens minted along the way, so a replayed code or refresh token can
revoke all of it (RFC 6749 §4.1.2, RFC 9700 §4.14.2).

Redeeming is one transaction: the conditional ``UPDATE ... WHERE used_at IS NULL`` both decides
the single winner across processes and locks the row, so a family revocation racing with it
waits and then sees the tokens the winner recorded.

A refresh token's ``data`` names the token it was rotated from (``PARENT``), so a client that
lost the answer to a rotation can retry it within the grace window (``redeem(retry_since=...)``):
the retry takes the place of the unused successor, whose row then counts as used.
"""

from __future__ import annotations

__all__ = ["PARENT", "GrantRow", "GrantStore", "NewGrant", "Redeemed"]

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authward.store.engine import begin_write
from authward.store.schema import grants

T = TypeVar("T")
#: The key of a refresh token's ``data`` that holds the digest of the token it was rotated from.
PARENT = "parent"


@dataclass(frozen=True, slots=True)
class NewGrant:
    digest: str
    kind: str
    family_id: str
    client_id: str
    subject: str
    data: Mapping[str, Any]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class GrantRow:
    digest: str
    kind: str
    family_id: str
    client_id: str
    subject: str
    data: Mapping[str, Any]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Redeemed(Generic[T]):
    """``value`` is what ``mint`` returned when the grant was redeemed; otherwise ``None`` and
    ``row`` (when there is one) says why: used, revoked or expired. ``superseded`` is the
    successor a retry within the grace window took the place of."""

    row: GrantRow | None
    value: T | None = None
    superseded: GrantRow | None = None


def _row(r: Any) -> GrantRow:
    return GrantRow(
        digest=r["digest"],
        kind=r["kind"],
        family_id=r["family_id"],
        client_id=r["client_id"],
        subject=r["subject"],
        data=r["data"],
        created_at=r["created_at"],
        expires_at=r["expires_at"],
        used_at=r["used_at"],
        revoked_at=r["revoked_at"],
    )


def _values(g: NewGrant, now: datetime) -> dict[str, Any]:
    return {
        "digest": g.digest,
        "kind": g.kind,
        "family_id": g.family_id,
        "client_id": g.client_id,
        "subject": g.subject,
        "data": dict(g.data),
        "created_at": now,
        "expires_at": g.expires_at,
    }


class GrantStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, grant: NewGrant, now: datetime) -> None:
        async with begin_write(self._engine) as conn:
            await conn.execute(grants.insert().values(**_values(grant, now)))

    async def get(self, digest: str) -> GrantRow | None:
        async with self._engine.connect() as conn:
            r = (await conn.execute(select(grants).where(grants.c.digest == digest))).mappings()
            row = r.first()
        return _row(row) if row else None

    async def redeem(
        self,
        digest: str,
        kind: str,
        now: datetime,
        mint: Callable[[GrantRow], tuple[T, list[NewGrant]]],
        *,
        retry_since: datetime | None = None,
    ) -> Redeemed[T]:
        """Use the live grant ``digest`` once: ``mint(row)`` returns a value and the grants to
        record with it, in the same transaction. If ``mint`` raises, nothing changes.

        With ``retry_since``, a grant used since then is redeemed again if its successor (the
        live grant naming it as ``PARENT``) is still unused: the successor is marked used in
        the same transaction, so exactly one of the retry and the successor ever wins."""
        live = and_(
            grants.c.digest == digest,
            grants.c.kind == kind,
            grants.c.used_at.is_(None),
            grants.c.revoked_at.is_(None),
            grants.c.expires_at > now,
        )
        async with begin_write(self._engine) as conn:
            won = await conn.execute(update(grants).where(live).values(used_at=now))
            found = (
                (await conn.execute(select(grants).where(grants.c.digest == digest)))
                .mappings()
                .first()
            )
            row = _row(found) if found is not None and found["kind"] == kind else None
            if row is None:
                return Redeemed(None)
            superseded = None
            if won.rowcount != 1:
                retried = retry_since is not None and _retryable(row, retry_since, now)
                superseded = await _supersede(conn, row, now) if retried else None
                if superseded is None:
                    return Redeemed(row)
            value, issued = mint(row)
            if issued:
                await conn.execute(grants.insert(), [_values(g, now) for g in issued])
            return Redeemed(row, value, superseded)

    async def live_families(
        self, subject: str | None, now: datetime, *, client_id: str | None = None
    ) -> list[str]:
        """The families of ``subject`` (a user id, or every user) with a grant still live, for
        ``client_id`` or every client."""
        query = select(grants.c.family_id).where(
            grants.c.revoked_at.is_(None),
            grants.c.expires_at > now,
        )
        if subject is not None:
            query = query.where(grants.c.subject == subject)
        if client_id is not None:
            query = query.where(grants.c.client_id == client_id)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query.distinct())
            return [r.family_id for r in rows]

    async def revoke_family(self, family_id: str, now: datetime) -> list[tuple[str, datetime]]:
        """Mark every grant of the family revoked; return ``(jti, expires_at)`` of its access
        tokens that have not expired yet (the caller puts them on the revocation list)."""
        revoke = (
            update(grants)
            .where(grants.c.family_id == family_id, grants.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        async with begin_write(self._engine) as conn:
            # On PostgreSQL a redemption that commits while this statement waits for its row
            # adds tokens the statement's snapshot cannot see; the next statement sees them.
            while (await conn.execute(revoke)).rowcount:
                pass
            rows = await conn.execute(
                select(grants.c.data, grants.c.expires_at).where(
                    grants.c.family_id == family_id,
                    grants.c.kind == "access",
                    grants.c.expires_at > now,
                )
            )
            return [(str(r.data["jti"]), r.expires_at) for r in rows]


def _retryable(row: GrantRow, since: datetime, now: datetime) -> bool:
    return (
        row.used_at is not None
        and row.used_at >= since
        and row.revoked_at is None
        and row.expires_at > now
    )


async def _supersede(conn: AsyncConnection, row: GrantRow, now: datetime) -> GrantRow | None:
    """Mark used the unused successor of ``row`` (a family has one live grant of a kind at a
    time), if it is ``row``'s; return it."""
    live = select(grants).where(
        grants.c.family_id == row.family_id,
        grants.c.kind == row.kind,
        grants.c.used_at.is_(None),
        grants.c.revoked_at.is_(None),
        grants.c.expires_at > now,
    )
    for child in (await conn.execute(live)).mappings().all():
        if child["data"].get(PARENT) != row.digest:
            continue
        # Conditional, like a redemption: the successor's own redemption and a second retry
        # race for this row, and exactly one of them wins.
        took = await conn.execute(
            update(grants)
            .where(
                grants.c.digest == child["digest"],
                grants.c.used_at.is_(None),
                grants.c.revoked_at.is_(None),
            )
            .values(used_at=now)
        )
        return _row(child) if took.rowcount == 1 else None
    return None
