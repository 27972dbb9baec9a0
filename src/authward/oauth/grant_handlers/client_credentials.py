"""``client_credentials`` (RFC 6749 §4.4): machine users only; the same token
``aw.machine_user_token`` makes, issued without touching the database. A DPoP proof (RFC 9449
§5) binds it to its key."""

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
        proof = await issuance.proof(client, request)
        lifetime = issuance.target.machine_user_lifetime
        token = await issuance.machine_user_token(
            mu, lifetime, cnf_jkt=proof.jkt if proof else None
        )
        return {
            "access_token": token,
            "token_type": "DPoP" if proof else "Bearer",
            "expires_in": lifetime,
        }
