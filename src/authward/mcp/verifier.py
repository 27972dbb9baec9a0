"""The SDK's ``TokenVerifier``, backed by authward, for an MCP server that uses the SDK's own
auth (``MCPServer(token_verifier=..., auth=AuthSettings(...))``) rather than :func:`protect`.

It accepts only access tokens this issuer signed for one declared resource (their ``aud``), with
every check authward's verifier makes (signature, expiry, revocation, the client still there).
A DPoP-bound token is refused: the SDK's transport knows only ``Bearer`` (RFC 9449 §7.1).
The returned ``AccessToken`` carries the ``Principal``; :class:`authward.mcp.MCPServer` puts it
in ``current_principal()`` for the tools.
"""

from __future__ import annotations

__all__ = ["AudienceTokens", "AuthwardTokenVerifier", "PrincipalAccessToken"]

import logging
from typing import Protocol

from mcp.server.auth.provider import AccessToken
from pydantic import ConfigDict

from authward.channel.authenticate import oauth_auth
from authward.errors import TokenError
from authward.principal import Principal
from authward.tokens.verifier import VerifiedToken

log = logging.getLogger("authward.mcp")


class AudienceTokens(Protocol):
    """The verifier of one resource (``aw.verifier.for_audience(url)``)."""

    async def verify_token(self, token: str, digest: bytes | None = None) -> VerifiedToken: ...


class PrincipalAccessToken(AccessToken):
    """The SDK's ``AccessToken``, with the principal authward made of it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    principal: Principal


class AuthwardTokenVerifier:
    """``verify_token(token)``: the SDK's ``AccessToken`` for a token of ``resource``, or
    ``None`` (the SDK answers 401 with its challenge)."""

    def __init__(self, tokens: AudienceTokens, *, issuer: str, resource: str) -> None:
        self._tokens = tokens
        self.issuer = issuer
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            verified = await self._tokens.verify_token(token)
        except TokenError as exc:
            log.info("MCP bearer token refused: %s", exc.reason)
            return None
        if verified.claims.get("cnf") is not None:
            log.info("MCP bearer token refused: it is DPoP-bound")
            return None
        # The principal the chain's entry makes of the same token (docs/channel.md).
        auth = oauth_auth(verified)
        return PrincipalAccessToken(
            token=token,
            client_id=auth.client_id,
            scopes=list(auth.scopes),
            expires_at=int(verified.exp),
            resource=self.resource,
            subject=auth.subject,
            claims={"iss": self.issuer},
            principal=auth.to_principal(),
        )
