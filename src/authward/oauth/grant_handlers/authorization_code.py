"""``authorization_code`` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3): the code is single
use and lives a minute; ``redirect_uri`` must be the one of the authorization request; the PKCE
verifier must match. A second use is refused and revokes every token issued from the code
(§4.1.2, RFC 9700 §4.2.4). A code's ``dpop_jkt`` (RFC 9449 §10) must be the proof's key."""

from __future__ import annotations

__all__ = ["AuthorizationCodeGrant"]

import hmac
from datetime import UTC, datetime

from authward.oauth import refresh_grant
from authward.oauth.clients import Client
from authward.oauth.errors import InvalidDpopProof, InvalidGrant, InvalidRequest
from authward.oauth.grant_handlers.base import TokenRequest, TokenResponse
from authward.oauth.grant_handlers.issuance import AuditNote, Issuance, Issue
from authward.oauth.grants import CODE_PREFIX, code_grant
from authward.oauth.pkce import verify_s256
from authward.oauth.resources import requested_resource


class AuthorizationCodeGrant:
    grant_type = "authorization_code"

    def __init__(self, issuance: Issuance) -> None:
        self._issuance = issuance

    async def handle(self, request: TokenRequest, client: Client) -> TokenResponse:
        issuance = self._issuance
        proof = await issuance.proof(client, request)
        form = request.form
        code = form.get("code")
        if code is None:
            raise InvalidRequest("code is required")
        redirect_uri = form.get("redirect_uri")
        if redirect_uri is None:
            raise InvalidRequest("redirect_uri is required")
        verifier = form.get("code_verifier")
        digest, row = await issuance.live_row(code, CODE_PREFIX, "code", client, request)
        grant = code_grant(row.data)
        # §4.1.3: the redirect URI must be identical to the one of the authorization request.
        if not hmac.compare_digest(redirect_uri.encode(), grant.redirect_uri.encode()):
            raise InvalidGrant("redirect_uri is not the one of the authorization request")
        verify_s256(verifier, grant.code_challenge)
        if grant.dpop_jkt is not None:
            if proof is None:
                raise InvalidDpopProof("the authorization request named a DPoP key (dpop_jkt)")
            if not hmac.compare_digest(proof.jkt.encode(), grant.dpop_jkt.encode()):
                raise InvalidDpopProof("the DPoP proof's key is not the one named by dpop_jkt")
        # RFC 8707 §2.2: the token is for the resource the grant was authorized for.
        resource = requested_resource(
            issuance.target.resources, form.get("resource"), grant.resource
        )
        issuance.check_resource(resource, proof)
        issue = Issue(
            user=await issuance.user_claims(grant.user_id),
            scopes=grant.scopes,
            proof=proof,
            auth_time=grant.auth_time,
            session_id=grant.session_id,
            nonce=grant.nonce,
            refresh_jkt=None,
            chain=refresh_grant.chain_of(row, issuance.refresh_policy(client), datetime.now(UTC)),
            resource=resource,
        )
        audit = AuditNote("token.issued", grant.user_id, {"grant_type": "authorization_code"})
        return await issuance.redeem(digest, "code", client, request, issue, audit)
