"""``GrantStorePort`` in memory, with store/grants.py's semantics: a grant is redeemed once;
within ``retry_since`` a used grant is redeemed again in place of its unused successor (which
then counts as used); expired, revoked and other-kind grants are not redeemed; nothing changes
when ``mint`` raises; revoking a family returns its unexpired access tokens every time.

``data`` goes through JSON as in the ``aw_grants.data`` column, so what the real store could
not hold fails here too, and a caller never shares a dict with the store."""

from __future__ import annotations

__all__ = ["MemoryGrantStore"]

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from authward.store.grants import PARENT, GrantRow, NewGrant, Redeemed

T = TypeVar("T")


def _json(data: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(data))
    return copied


def _live(row: GrantRow, now: datetime) -> bool:
    return row.used_at is None and row.revoked_at is None and row.expires_at > now


def _retryable(row: GrantRow, since: datetime, now: datetime) -> bool:
    return (
        row.used_at is not None
        and row.used_at >= since
        and row.revoked_at is None
        and row.expires_at > now
    )


class MemoryGrantStore:
    def __init__(self) -> None:
        self._rows: dict[str, GrantRow] = {}

    def _read(self, row: GrantRow) -> GrantRow:
        return replace(row, data=_json(row.data))

    def _new_rows(self, grants: list[NewGrant], now: datetime) -> dict[str, GrantRow]:
        if any(t.tzinfo is None for t in (now, *(g.expires_at for g in grants))):
            raise ValueError("timestamps must be timezone-aware")  # as store/types.py says
        rows = {
            g.digest: GrantRow(
                digest=g.digest,
                kind=g.kind,
                family_id=g.family_id,
                client_id=g.client_id,
                subject=g.subject,
                data=_json(g.data),
                created_at=now,
                expires_at=g.expires_at,
                used_at=None,
                revoked_at=None,
            )
            for g in grants
        }
        if len(rows) != len(grants) or rows.keys() & self._rows.keys():
            # The real store's primary key refuses it (and rolls back what came with it).
            raise ValueError("a grant with this digest exists already")
        return rows

    async def add(self, grant: NewGrant, now: datetime) -> None:
        self._rows.update(self._new_rows([grant], now))

    async def get(self, digest: str) -> GrantRow | None:
        row = self._rows.get(digest)
        return self._read(row) if row is not None else None

    async def redeem(
        self,
        digest: str,
        kind: str,
        now: datetime,
        mint: Callable[[GrantRow], tuple[T, list[NewGrant]]],
        *,
        retry_since: datetime | None = None,
    ) -> Redeemed[T]:
        stored = self._rows.get(digest)
        if stored is None or stored.kind != kind:
            return Redeemed(None)
        superseded = None
        if _live(stored, now):
            row = replace(stored, used_at=now)
            used = [row]
        else:
            row = stored
            if retry_since is not None and _retryable(row, retry_since, now):
                superseded = self._successor(row, now)
            if superseded is None:
                return Redeemed(self._read(row))
            used = [replace(superseded, used_at=now)]
        value, issued = mint(self._read(row))
        new = self._new_rows(issued, now)
        # Written only now, as the real store commits only once ``mint`` returned.
        self._rows.update({u.digest: u for u in used})
        self._rows.update(new)
        return Redeemed(self._read(row), value, self._read(superseded) if superseded else None)

    def _successor(self, row: GrantRow, now: datetime) -> GrantRow | None:
        for child in self._rows.values():
            if (
                child.family_id == row.family_id
                and child.kind == row.kind
                and _live(child, now)
                and child.data.get(PARENT) == row.digest
            ):
                return child
        return None

    async def live_families(
        self, subject: str | None, now: datetime, *, client_id: str | None = None
    ) -> list[str]:
        families = (
            r.family_id
            for r in self._rows.values()
            if (subject is None or r.subject == subject)
            and r.revoked_at is None
            and r.expires_at > now
            and (client_id is None or r.client_id == client_id)
        )
        return list(dict.fromkeys(families))

    async def revoke_family(self, family_id: str, now: datetime) -> list[tuple[str, datetime]]:
        family = [r for r in self._rows.values() if r.family_id == family_id]
        for r in family:
            if r.revoked_at is None:
                self._rows[r.digest] = replace(r, revoked_at=now)
        return [
            (str(r.data["jti"]), r.expires_at)
            for r in family
            if r.kind == "access" and r.expires_at > now
        ]
