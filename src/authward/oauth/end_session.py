"""RP-Initiated Logout 1.0 requests, validated without a web framework.

- §2: ``id_token_hint`` must be an ID token this issuer signed (its signature, with whichever of
  our published keys and algorithms its ``kid`` names, its ``typ`` and ``iss`` checked; an
  expired one is accepted: the point is to end a session that may have outlived it; one whose
  ``nbf`` is ahead of the token leeway, or not a number, is not).
- §2: ``client_id`` and the hint's audience must agree.
- §3: ``post_logout_redirect_uri`` must exactly match one registered for that client (the
  ``post_logout_redirect_uris`` of its config); without a client to check it against it is refused.
- Errors are never redirected: :class:`~authward.oauth.errors.InvalidRequest` is shown to the user.
"""

from __future__ import annotations

__all__ = ["LogoutRequest", "parse_logout_request"]

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from authward.errors import TokenError
from authward.oauth.authorize import MAX_PARAMETER_CHARS
from authward.oauth.errors import InvalidRequest
from authward.oauth.token import ID_TOKEN_TYP
from authward.tokens.jws_verify import VerifyKey, parse_compact
from authward.tokens.jwt import verify_jwt

_PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales")
#: ID tokens are small; a hint longer than this is not one of ours.
_MAX_HINT_CHARS = 8192


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    client_id: str | None
    post_logout_redirect_uri: str | None
    state: str | None
    #: ``sub`` of a valid ``id_token_hint`` (``None`` without one).
    hint_subject: str | None


def _hint_claims(
    hint: str, keys: Mapping[str, VerifyKey], issuer: str, *, now: float, leeway: int
) -> dict[str, Any]:
    try:
        claims = verify_jwt(parse_compact(hint), keys, typ=ID_TOKEN_TYP, kind="an ID token")
    except TokenError:
        raise InvalidRequest("id_token_hint is not an ID token issued here") from None
    nbf = claims.get("nbf", 0)
    if (
        claims.get("iss") != issuer
        or not isinstance(claims.get("sub"), str)
        or not isinstance(nbf, int | float)
        or isinstance(nbf, bool)
    ):
        raise InvalidRequest("id_token_hint is not an ID token issued here")
    if nbf > now + leeway:
        raise InvalidRequest("id_token_hint is not valid yet")
    return claims


def _hint_client(claims: Mapping[str, Any]) -> str:
    azp, aud = claims.get("azp"), claims.get("aud")
    if isinstance(azp, str):
        return azp
    if isinstance(aud, str):
        return aud
    if isinstance(aud, list) and len(aud) == 1 and isinstance(aud[0], str):
        return aud[0]
    raise InvalidRequest("id_token_hint does not name one client")


def parse_logout_request(
    params: Sequence[tuple[str, str]],
    *,
    issuer: str,
    keys: Mapping[str, VerifyKey],
    registered_uris: Callable[[str], tuple[str, ...] | None],
    leeway: int,
    now: float | None = None,
) -> LogoutRequest:
    """``registered_uris(client_id)`` is the client's post-logout URIs, ``None`` if unknown;
    ``leeway`` the clock skew allowed on the hint's ``nbf`` (``now``: the current time)."""
    values: dict[str, str] = {}
    for name, value in params:
        if name not in _PARAMETERS:
            continue
        if name in values:
            raise InvalidRequest(f"{name} is given more than once")
        limit = _MAX_HINT_CHARS if name == "id_token_hint" else MAX_PARAMETER_CHARS
        if len(value) > limit:
            raise InvalidRequest(f"{name} is too long")
        if value:
            values[name] = value
    client_id = values.get("client_id")
    subject = None
    if "id_token_hint" in values:
        claims = _hint_claims(
            values["id_token_hint"],
            keys,
            issuer,
            now=time.time() if now is None else now,
            leeway=leeway,
        )
        hinted = _hint_client(claims)
        if client_id is not None and client_id != hinted:
            raise InvalidRequest("client_id is not the audience of id_token_hint")
        client_id, subject = hinted, claims["sub"]
    uris = registered_uris(client_id) if client_id is not None else None
    if client_id is not None and uris is None:
        raise InvalidRequest("unknown client_id")
    target = values.get("post_logout_redirect_uri")
    if target is not None:
        if client_id is None:
            raise InvalidRequest("post_logout_redirect_uri needs client_id or id_token_hint")
        if target not in (uris or ()):
            raise InvalidRequest(
                "post_logout_redirect_uri is not registered for this client "
                "(its post_logout_redirect_uris)"
            )
    return LogoutRequest(
        client_id=client_id,
        post_logout_redirect_uri=target,
        state=values.get("state"),
        hint_subject=subject,
    )
