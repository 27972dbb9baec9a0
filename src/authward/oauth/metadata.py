"""Authorization server metadata: RFC 8414 §2 and OpenID Connect Discovery 1.0 §3.

Served at ``/.well-known/oauth-authorization-server`` and ``/.well-known/openid-configuration``
(the same document). Every value is something the server really does.
"""

from __future__ import annotations

__all__ = ["ENDPOINTS", "REGISTRATION_ENDPOINT", "server_metadata"]

from collections.abc import Iterable
from typing import Any

from authward.config.auth import ID_TOKEN_ALGS
from authward.oauth.clients import AUTH_METHODS
from authward.oauth.dpop import ALGORITHMS as DPOP_ALGORITHMS
from authward.oauth.grant_handlers import GRANT_HANDLERS
from authward.oauth.id_token import CLAIMS_SUPPORTED, RESERVED
from authward.oauth.scopes import SUPPORTED_SCOPES

ENDPOINTS = {
    "authorization_endpoint": "/oauth2/authorize",
    "token_endpoint": "/oauth2/token",
    "introspection_endpoint": "/oauth2/introspect",
    "revocation_endpoint": "/oauth2/revoke",
    "userinfo_endpoint": "/oauth2/userinfo",
    "end_session_endpoint": "/oauth2/logout",
    "jwks_uri": "/.well-known/jwks.json",
}
#: RFC 7591 §3, served and advertised only when the app switches registration on.
REGISTRATION_ENDPOINT = "/oauth2/register"


def server_metadata(
    issuer: str,
    *,
    profile_fields: Iterable[str] = (),
    registration: bool = False,
    client_id_metadata_documents: bool = False,
) -> dict[str, Any]:
    """``profile_fields``: the user profile's fields, released as claims under ``profile``;
    ``registration``: dynamic client registration is on; ``client_id_metadata_documents``:
    whether client_id URLs are resolved (decision 048)."""
    confidential = [m for m in AUTH_METHODS if m != "none"]
    claims = [*CLAIMS_SUPPORTED, *(f for f in profile_fields if f not in RESERVED)]
    endpoints = dict(ENDPOINTS)
    if registration:
        endpoints["registration_endpoint"] = REGISTRATION_ENDPOINT
    return {
        "issuer": issuer,
        **{name: issuer + path for name, path in endpoints.items()},
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [h.grant_type for h in GRANT_HANDLERS],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": confidential,
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        # Per client (id_token_signed_response_alg); RS256 first, as Discovery §3 requires it.
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGS),
        "subject_types_supported": ["public"],
        "claims_supported": claims,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": client_id_metadata_documents,
    }
