"""Protocol errors of the authorization server, each carrying its RFC error code.

    OAuthError                   ``code`` is the RFC 6749 §4.1.2.1 / §5.2 error code
    ├── InvalidRequest           invalid_request (400)
    ├── InvalidClient            invalid_client (401; WWW-Authenticate when the client used Basic)
    ├── InvalidGrant             invalid_grant (400)
    ├── UnauthorizedClient       unauthorized_client (400)
    ├── UnsupportedGrantType     unsupported_grant_type (400)
    ├── UnsupportedResponseType  unsupported_response_type (400, authorization endpoint)
    ├── InvalidScope             invalid_scope (400)
    ├── InvalidTarget            invalid_target (400): an undeclared or ungranted resource
                                 (RFC 8707 §2)
    ├── AccessDenied             access_denied (authorization endpoint)
    ├── LoginRequired / ConsentRequired / InteractionRequired   OIDC Core §3.1.2.6 (prompt=none)
    ├── InvalidDpopProof         invalid_dpop_proof (400 at the token endpoint, 401 at resources)
    ├── UseDpopNonce             use_dpop_nonce (carries the nonce to send as ``DPoP-Nonce``)
    ├── TemporarilyUnavailable   temporarily_unavailable (429 with ``Retry-After``: too many failed
    │                            client authentications, decision 037; too many client
    │                            registrations from one address, decision 049)
    ├── InvalidToken             invalid_token (401: a wrong initial access token, RFC 6750)
    ├── InvalidRedirectUri       invalid_redirect_uri (400, RFC 7591 §3.2.2)
    └── InvalidClientMetadata    invalid_client_metadata (400, RFC 7591 §3.2.2)

``description`` is written for the client's developer and never contains a secret.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "ConsentRequired",
    "InteractionRequired",
    "InvalidClient",
    "InvalidClientMetadata",
    "InvalidDpopProof",
    "InvalidGrant",
    "InvalidRedirectUri",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "InvalidToken",
    "LoginRequired",
    "OAuthError",
    "TemporarilyUnavailable",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedResponseType",
    "UseDpopNonce",
]

from authward.errors import AuthwardError


class OAuthError(AuthwardError):
    code = "server_error"
    status = 400

    def __init__(self, description: str) -> None:
        self.description = description
        super().__init__(description)

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.description}


class InvalidRequest(OAuthError):
    code = "invalid_request"


class InvalidClient(OAuthError):
    code = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    code = "invalid_grant"


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    code = "unsupported_response_type"


class InvalidScope(OAuthError):
    code = "invalid_scope"


class InvalidTarget(OAuthError):
    code = "invalid_target"


class AccessDenied(OAuthError):
    code = "access_denied"
    status = 403


class LoginRequired(OAuthError):
    code = "login_required"


class ConsentRequired(OAuthError):
    code = "consent_required"


class InteractionRequired(OAuthError):
    code = "interaction_required"


class InvalidDpopProof(OAuthError):
    code = "invalid_dpop_proof"


class UseDpopNonce(OAuthError):
    code = "use_dpop_nonce"

    def __init__(self, description: str, nonce: str) -> None:
        super().__init__(description)
        self.nonce = nonce


class TemporarilyUnavailable(OAuthError):
    code = "temporarily_unavailable"
    status = 429

    def __init__(
        self, retry_after_seconds: int, what: str = "too many failed client authentications"
    ) -> None:
        super().__init__(f"{what}: try again in {retry_after_seconds} seconds")
        self.retry_after_seconds = retry_after_seconds


class InvalidToken(OAuthError):
    code = "invalid_token"
    status = 401


class InvalidRedirectUri(OAuthError):
    code = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    code = "invalid_client_metadata"
