"""``client_credentials`` (RFC 6749 §4.4): machine users only; the same token
``aw.machine_user_token`` makes, issued without touching the database. A DPoP proof (RFC 9449
§5) binds it to its key. ``resource`` (RFC 8707) makes that resource its audience."""

from __future__ import annotations

__all__ = ["ClientCredentialsGrant"]

from authward.oauth.clients import Client
from authward.oauth.errors import InvalidScope
from authward.oauth.grant_handlers.base import TokenRequest, TokenResponse
from authward.oauth.grant_handlers.issuance import Issuance


class ClientCredentialsGrant:
    grant_type = "client_credentials"

    def __init__(self, issuance: Issuance) -> None:
        self._issuance = issuance

    async def handle(self, request: TokenRequest, client: Client) -> TokenResponse:
        mu = client.machine_user
        assert mu is not None  # only machine users have this grant
        if request.form.get("scope"):
            raise InvalidScope("machine users are granted no scopes; omit scope")
        issuance = self._issuance
        resource = issuance.target.resources.requested(request.form.get("resource"))
        proof = await issuance.proof(client, request)
        issuance.check_resource(resource, proof)
        lifetime = issuance.target.machine_user_lifetime
        if resource is not None and resource.access_token_lifetime_seconds:
            lifetime = resource.access_token_lifetime_seconds
        token = await issuance.machine_user_token(
            mu,
            lifetime,
            audience=resource.url if resource else None,
            cnf_jkt=proof.jkt if proof else None,
        )
        return {
            "access_token": token,
            "token_type": "DPoP" if proof else "Bearer",
            "expires_in": lifetime,
        }
