"""Request bodies of the token, introspection and revocation endpoints.

RFC 6749 §3.2 / RFC 7662 §2.1 / RFC 7009 §2.1: ``application/x-www-form-urlencoded`` in UTF-8.
§3.1: parameters sent without a value are treated as omitted, and no parameter may appear
twice. Unknown parameters are ignored (§3.1), but a body that is too large or too many fields is
refused before anything else looks at it.
"""

from __future__ import annotations

__all__ = ["FORM_TYPE", "MAX_BODY_BYTES", "MAX_FIELDS", "parse_form"]

from urllib.parse import parse_qsl

from authward.oauth.errors import InvalidRequest

FORM_TYPE = "application/x-www-form-urlencoded"
#: Far above any real token request (a long refresh token, a PKCE verifier, a DPoP-free body).
MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 64


def parse_form(content_type: str | None, body: bytes) -> dict[str, str]:
    media_type, _, params = (content_type or "").partition(";")
    if media_type.strip().lower() != FORM_TYPE:
        raise InvalidRequest(f"the request body must be {FORM_TYPE}")
    charset = params.strip().lower()
    if charset and charset.replace(" ", "") not in ("charset=utf-8", 'charset="utf-8"'):
        raise InvalidRequest("the request body must be UTF-8")
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest("the request body is too large")
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the request body is not a valid form") from None
    form: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise InvalidRequest(f"the parameter {name!r} is repeated")
        seen.add(name)
        if value:
            form[name] = value
    return form
