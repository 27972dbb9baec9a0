"""What the authorization endpoint hands the token endpoint: an authorization code's grant.

The authorize side builds a :class:`CodeGrant` once the user has signed in and consented, and
``aw.oauth.issue_code(grant)`` turns it into the single-use code sent to the redirect URI.
"""

from __future__ import annotations

__all__ = ["CODE_LIFETIME_SECONDS", "CODE_PREFIX", "CodeGrant", "code_data", "code_grant"]

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: RFC 6749 §4.1.2 recommends at most ten minutes; RFC 9700 wants codes short-lived. A minute
#: covers the redirect and the back-channel call of any real client.
CODE_LIFETIME_SECONDS = 60
#: Codes are opaque (tokens/opaque.py): the prefix says what a leaked string is.
CODE_PREFIX = "awcode_"


@dataclass(frozen=True, slots=True)
class CodeGrant:
    client_id: str  # the OAuth client's client_id (awc_...)
    redirect_uri: str  # exactly as in the authorization request
    scopes: tuple[str, ...]
    user_id: str  # aw.users UserAccount.id
    code_challenge: str  # PKCE S256 challenge (the authorize endpoint refuses plain/missing)
    nonce: str | None
    auth_time: int  # epoch seconds of the user's login
    session_id: str | None  # the browser session (sid), for end-session
    dpop_jkt: str | None = None  # RFC 9449 §10 dpop_jkt authorization parameter, if given
    resource: str | None = None  # RFC 8707 resource the grant is for, if given


def code_data(grant: CodeGrant) -> dict[str, Any]:
    """The grant as stored (JSON) until its code is redeemed."""
    data = asdict(grant)
    data["scopes"] = list(grant.scopes)
    return data


def code_grant(data: Mapping[str, Any]) -> CodeGrant:
    return CodeGrant(**{**data, "scopes": tuple(data["scopes"])})
