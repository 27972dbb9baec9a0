"""The scopes this authorization server understands (advertised in its metadata)."""

from __future__ import annotations

__all__ = ["OFFLINE_ACCESS", "OPENID", "SUPPORTED_SCOPES", "parse_scope"]

from authward.oauth.errors import InvalidScope

OPENID = "openid"
#: Asks for a refresh token (OIDC Core §11); granted only to clients allowed refresh_token.
OFFLINE_ACCESS = "offline_access"
SUPPORTED_SCOPES: tuple[str, ...] = (OPENID, "profile", "email", OFFLINE_ACCESS)


def parse_scope(
    value: str | None, *, allowed: tuple[str, ...] = SUPPORTED_SCOPES
) -> tuple[str, ...]:
    """The distinct scopes of a space-separated ``scope`` parameter, in the order given."""
    if value is None or value == "":
        return ()
    out: list[str] = []
    for s in value.split(" "):
        if not s:
            raise InvalidScope("scopes are separated by single spaces")
        if s not in allowed:
            raise InvalidScope(f"unknown scope {s!r} (supported: {' '.join(allowed)})")
        if s not in out:
            out.append(s)
    return tuple(out)
