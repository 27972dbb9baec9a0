"""The UserInfo endpoint, OpenID Connect Core §5.3.

§5.3.1: the access token must have been granted the ``openid`` scope; §5.3.2: the response
carries ``sub`` (always the token's) and the claims the token's scopes release (§5.4), here
with the user's attribute map and attribute list in the platform's naming. Errors follow
RFC 6750 §3.1: ``invalid_token`` (401) and ``insufficient_scope`` (403).
"""

from __future__ import annotations

__all__ = ["UserInfoError", "granted_scopes", "userinfo_claims"]

from collections.abc import Mapping
from typing import Any

from authward.errors import AuthwardError
from authward.oauth.id_token import scoped_claims
from authward.oauth.scopes import OPENID


class UserInfoError(AuthwardError):
    def __init__(self, code: str, status: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.status = status
        self.description = description


def granted_scopes(token_claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The token's scopes; §5.3.1 refuses a token without ``openid`` (a machine user's too)."""
    scope = token_claims.get("scope")
    scopes = tuple(scope.split()) if isinstance(scope, str) else ()
    if OPENID not in scopes:
        raise UserInfoError("insufficient_scope", 403, "the access token lacks the openid scope")
    return scopes


def userinfo_claims(token_claims: Mapping[str, Any], user: Any) -> dict[str, Any]:
    """``user`` is ``aw.users.claims(sub)``: ``None`` when the user is gone or disabled."""
    scopes = granted_scopes(token_claims)
    if user is None:
        raise UserInfoError("invalid_token", 401, "the token's user is gone or disabled")
    return {
        **scoped_claims(
            scopes,
            username=user.username,
            profile=user.profile,
            email=user.email,
            email_verified=user.email_verified,
        ),
        "sub": user.user_id,
        "attribute_map": dict(user.attribute_map),
        "attributes": list(user.attribute_list),
    }
