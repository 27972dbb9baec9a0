"""The ports the OAuth core declares: what it needs of the store and of the token verifier.

:class:`authward.store.grants.GrantStore`, :class:`authward.store.audit.AuditStore`,
:class:`authward.store.revocations.RevocationStore` and :class:`authward.tokens.verifier.Verifier`
implement them. The core's unit tests (tests/unit/test_oauth_core.py) run on in-memory fakes
of each (tests/fakes/); tests/integration/test_grant_store_contract.py holds the grant store's
fake and the real store to one contract, on SQLite and PostgreSQL."""

from __future__ import annotations

__all__ = ["AccessRevocations", "AuditLog", "ClaimsVerifier", "GrantStorePort"]

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from authward.store.audit import AuditEvent
from authward.store.grants import GrantRow, NewGrant, Redeemed

T = TypeVar("T")


class GrantStorePort(Protocol):
    """Codes, refresh tokens and the access tokens issued from them, by family."""

    async def add(self, grant: NewGrant, now: datetime) -> None: ...
    async def get(self, digest: str) -> GrantRow | None: ...
    async def redeem(
        self,
        digest: str,
        kind: str,
        now: datetime,
        mint: Callable[[GrantRow], tuple[T, list[NewGrant]]],
        *,
        retry_since: datetime | None = None,
    ) -> Redeemed[T]: ...
    async def live_families(
        self, subject: str | None, now: datetime, *, client_id: str | None = None
    ) -> list[str]: ...
    async def revoke_family(self, family_id: str, now: datetime) -> list[tuple[str, datetime]]: ...


class AuditLog(Protocol):
    async def record(self, event: AuditEvent) -> None: ...


class AccessRevocations(Protocol):
    """The revocation list of access tokens, by ``jti``."""

    async def revoke(
        self, jti: str, *, expires_at: datetime, now: datetime, reason: str
    ) -> bool: ...


class ClaimsVerifier(Protocol):
    async def verify_claims(self, token: str) -> Mapping[str, Any]: ...
    def note_revoked(self, jti: str) -> None: ...
