"""The token endpoint, RFC 6749 §3.2 and §4: it authenticates the client, checks that the client
may use the requested grant, and hands the request to that grant's handler
(oauth/grant_handlers/, one module per grant type, registered in its ``__init__``).

DPoP (RFC 9449 §5): a proof binds the access token to its key (``cnf.jkt``, ``token_type
DPoP``); clients with ``require_dpop`` get no unbound token; each handler checks the proof
(oauth/grant_handlers/issuance.py).
"""

from __future__ import annotations

__all__ = [
    "ID_TOKEN_TYP",
    "REFRESH_PREFIX",
    "TokenEndpoint",
    "TokenRequest",
    "TokenResponse",
    "TokenTarget",
]

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from authward.config.auth import IdTokenAlg
from authward.oauth.clients import ClientDirectory, authenticate
from authward.oauth.errors import InvalidRequest, UnauthorizedClient, UnsupportedGrantType
from authward.oauth.grant_handlers import GRANT_HANDLERS, GrantHandlerFactory
from authward.oauth.grant_handlers.base import (
    ProofChecker,
    TokenRequest,
    TokenResponse,
    TokenTarget,
    UserDirectory,
)
from authward.oauth.grant_handlers.issuance import ID_TOKEN_TYP, REFRESH_PREFIX, Issuance
from authward.oauth.ports import AuditLog, GrantStorePort
from authward.tokens.keys import SigningKey


class TokenEndpoint:
    def __init__(
        self,
        *,
        target: TokenTarget,
        clients: ClientDirectory,
        grants: GrantStorePort,
        signer: Callable[[], Awaitable[SigningKey]],
        id_token_signer: Callable[[IdTokenAlg], Awaitable[SigningKey]],
        users: UserDirectory,
        dpop: ProofChecker,
        audit: AuditLog,
        revoke_family: Callable[[str, str], Awaitable[None]],
        revoke_access: Callable[[str, datetime, str], Awaitable[None]],
        handlers: Iterable[GrantHandlerFactory] = GRANT_HANDLERS,
        issued: Callable[[str, str], None] | None = None,
    ) -> None:
        """``handlers``: the grants served, the registry's unless a test adds its own;
        ``issued(kind, client_id)``: told of each client that got tokens (no I/O: it batches)."""
        self._clients = clients
        self._issued = issued
        issuance = Issuance(
            target=target,
            grants=grants,
            signer=signer,
            id_token_signer=id_token_signer,
            users=users,
            dpop=dpop,
            audit=audit,
            revoke_family=revoke_family,
            revoke_access=revoke_access,
        )
        self._handlers = {h.grant_type: h(issuance) for h in handlers}
        self._unsupported = f"grant_type must be one of {', '.join(self._handlers)}"
        #: An RFC 9068 access token acting as a machine user (``aw.machine_user_token``).
        self.machine_user_token = issuance.machine_user_token

    async def handle(self, request: TokenRequest) -> TokenResponse:
        """The §5.1 response body, or an :class:`OAuthError` to send as §5.2 says."""
        grant_type = request.form.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("grant_type is required")
        handler = self._handlers.get(grant_type)
        if handler is None:
            raise UnsupportedGrantType(self._unsupported)
        client = await authenticate(self._clients, request.form, request.authorization)
        if grant_type not in client.grant_types:
            raise UnauthorizedClient(f"this client may not use the {grant_type} grant")
        response = await handler.handle(request, client)
        if self._issued is not None:
            self._issued(client.kind, client.client_id)
        return response
