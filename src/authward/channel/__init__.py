"""Request authentication: who is calling, as what, with which attributes.

    app = AuthMiddleware(app, auth=[my_fn, aw.tokens_entry(accepts_token=["api_key",
                                                                           "oauth_token"])])

See docs/channel.md for the chain, the token types and the attribute mapping.
"""

from authward.channel.authenticate import OAuthAuth, RequestState, TokenType, authenticate_request
from authward.channel.chain import AuthFn, run_chain
from authward.channel.credentials import Credential, MalformedCredential, read_credential
from authward.channel.entries import authward_tokens, local_dev
from authward.channel.guards import principal_of, protected
from authward.channel.middleware import AuthMiddleware
from authward.channel.oidc import oidc
from authward.channel.responses import exception_handlers
from authward.errors import UnauthenticatedError

__all__ = [
    "AuthFn",
    "AuthMiddleware",
    "Credential",
    "MalformedCredential",
    "OAuthAuth",
    "RequestState",
    "TokenType",
    "UnauthenticatedError",
    "authenticate_request",
    "authward_tokens",
    "exception_handlers",
    "local_dev",
    "oidc",
    "principal_of",
    "protected",
    "read_credential",
    "run_chain",
]
