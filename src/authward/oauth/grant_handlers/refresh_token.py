"""``refresh_token`` (RFC 6749 §6, RFC 9700 §4.14.2): rotated on every use; a rotated-out token
revokes its whole family, unless it is retried within the rotation grace while its successor
is unused. The grant ends at its absolute lifetime. ``scope`` may narrow the grant, never widen
it. A public client's refresh token is bound to the DPoP key it was issued under. The rules
themselves live in oauth/refresh_grant.py."""

from __future__ import annotations

__all__ = ["RefreshTokenGrant"]

from datetime import UTC, datetime

from authward.oauth import refresh_grant
from authward.oauth.clients import Client
from authward.oauth.errors import InvalidRequest
from authward.oauth.grant_handlers.base import TokenRequest, TokenResponse
from authward.oauth.grant_handlers.issuance import REFRESH_PREFIX, AuditNote, Issuance, Issue
from authward.oauth.resources import requested_resource


class RefreshTokenGrant:
    grant_type = "refresh_token"

    def __init__(self, issuance: Issuance) -> None:
        self._issuance = issuance

    async def handle(self, request: TokenRequest, client: Client) -> TokenResponse:
        issuance = self._issuance
        proof = await issuance.proof(client, request)
        token = request.form.get("refresh_token")
        if token is None:
            raise InvalidRequest("refresh_token is required")
        digest, row = await issuance.live_row(token, REFRESH_PREFIX, "refresh", client, request)
        granted = tuple(row.data["scopes"])
        scopes = refresh_grant.narrowed_scopes(granted, request.form)
        bound = refresh_grant.bound_key(row, proof)
        # RFC 8707: the grant's resource, named again or left out; never another.
        resource = requested_resource(
            issuance.target.resources, request.form.get("resource"), row.data.get("resource")
        )
        issuance.check_resource(resource, proof)
        policy = issuance.refresh_policy(client)
        issue = Issue(
            user=await issuance.user_claims(row.subject),
            scopes=scopes,
            proof=proof,
            auth_time=int(row.data["auth_time"]),
            session_id=row.data.get("sid"),
            nonce=None,
            refresh_jkt=bound,
            chain=refresh_grant.chain_of(row, policy, datetime.now(UTC)),
            refresh_scopes=granted,
            resource=resource,
        )
        audit = AuditNote("token.refreshed", row.subject, {"family": row.family_id})
        return await issuance.redeem(digest, "refresh", client, request, issue, audit)
