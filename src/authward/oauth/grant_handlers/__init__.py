"""The token endpoint's grants, one handler per grant type, registered here and only here: the
token endpoint dispatches on :data:`GRANT_HANDLERS` and discovery lists their names as
``grant_types_supported``. ``config.clients.GRANT_TYPES_SUPPORTED`` names the same grants for
config validation (config/ cannot import oauth/); a test keeps the two equal.

A new grant (say RFC 8693 token exchange) is one module with a class that has a ``grant_type``
and an ``async handle(request, client)``, built over the shared :class:`Issuance`, plus one line
below.
"""

from __future__ import annotations

__all__ = [
    "GRANT_HANDLERS",
    "GrantHandler",
    "GrantHandlerFactory",
    "Issuance",
    "TokenRequest",
    "TokenResponse",
    "TokenTarget",
]

from typing import Protocol

from authward.oauth.grant_handlers.authorization_code import AuthorizationCodeGrant
from authward.oauth.grant_handlers.base import (
    GrantHandler,
    TokenRequest,
    TokenResponse,
    TokenTarget,
)
from authward.oauth.grant_handlers.client_credentials import ClientCredentialsGrant
from authward.oauth.grant_handlers.issuance import Issuance
from authward.oauth.grant_handlers.refresh_token import RefreshTokenGrant


class GrantHandlerFactory(Protocol):
    """What the registry holds: a handler class, named by its grant type before it is built
    (discovery lists the names), and built once per token endpoint over the shared issuance."""

    @property
    def grant_type(self) -> str: ...

    def __call__(self, issuance: Issuance, /) -> GrantHandler: ...


#: In the order discovery lists them.
GRANT_HANDLERS: tuple[GrantHandlerFactory, ...] = (
    AuthorizationCodeGrant,
    RefreshTokenGrant,
    ClientCredentialsGrant,
)
