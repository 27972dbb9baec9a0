"""Ending grants: a code's family (its refresh tokens and every access token issued from it),
or everything a user granted a client. Refused at once in this process, and within the cache
interval in the others (the revocation list every verifier reloads)."""

from __future__ import annotations

__all__ = ["GrantRevocation"]

from datetime import UTC, datetime

from authward.oauth.ports import AccessRevocations, ClaimsVerifier, GrantStorePort


def _now() -> datetime:
    return datetime.now(UTC)


class GrantRevocation:
    def __init__(
        self,
        grants: GrantStorePort,
        revocations: AccessRevocations,
        verifier: ClaimsVerifier,
    ) -> None:
        self._grants = grants
        self._revocations = revocations
        self._verifier = verifier

    async def revoke_grants(
        self, user_id: str, client_id: str | None = None, *, reason: str
    ) -> int:
        """Revoke what ``user_id`` granted (to ``client_id``, or to every client): refresh tokens
        and the access tokens issued from them. Returns how many grant families ended."""
        families = await self._grants.live_families(user_id, _now(), client_id=client_id)
        for family_id in families:
            await self.revoke_family(family_id, reason)
        return len(families)

    async def revoke_client(self, client_id: str, *, reason: str) -> int:
        """Revoke every grant of ``client_id``, whoever gave it; returns how many families
        ended."""
        families = await self._grants.live_families(None, _now(), client_id=client_id)
        for family_id in families:
            await self.revoke_family(family_id, reason)
        return len(families)

    async def revoke_family(self, family_id: str, reason: str) -> None:
        for jti, expires_at in await self._grants.revoke_family(family_id, _now()):
            await self.revoke_access(jti, expires_at, reason)

    async def revoke_access(self, jti: str, expires_at: datetime, reason: str) -> None:
        await self._revocations.revoke(jti, expires_at=expires_at, now=_now(), reason=reason)
        self._verifier.note_revoked(jti)
