"""What the browser pages' forms rely on: CSRF tokens, signed tickets, bounded form parsing.

- **CSRF** (double submit, signed): the ``aw_csrf`` cookie (HttpOnly, SameSite=Lax) holds a
  random value; each form carries ``HMAC(key, value)``. A cross-site page can neither read the
  cookie nor compute the MAC, so it cannot forge a form that passes.
- **Tickets**: the pages never trust what a form says about the authorization request. What must
  survive login and consent travels as a ticket: JSON signed with an HMAC, bound to its purpose
  and time-limited, checked again (and the request re-validated) when it comes back.

The MAC keys are derived from the instance key, so every server process of the instance accepts
what another one signed, and a key rotation (newest key signs, older ones still verify) works.
"""

from __future__ import annotations

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "FormError",
    "FormSigner",
    "read_form",
    "read_form_pairs",
]

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from authward.errors import AuthwardError

CSRF_COOKIE = "aw_csrf"
CSRF_FIELD = "csrf_token"
_MAX_FORM_BYTES = 16 * 1024
_MAX_FORM_FIELDS = 80
_CSRF_VALUE_CHARS = 43


class FormError(AuthwardError):
    """A form that cannot be read (wrong content type, too large, malformed)."""

    code = "invalid_form"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FormSigner:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("FormSigner needs a key")
        self._keys = keys

    def _mac(self, key: bytes, purpose: str, data: bytes) -> bytes:
        return hmac.new(key, purpose.encode() + b"\x00" + data, hashlib.sha256).digest()

    def _verify(self, purpose: str, data: bytes, mac: bytes) -> bool:
        return any(hmac.compare_digest(self._mac(key, purpose, data), mac) for key in self._keys)

    # -- CSRF -----------------------------------------------------------------------------------

    def csrf_token(self, request: Request) -> tuple[str, str]:
        """The token for a form, and the cookie value it is bound to (new if the browser had
        none: pass it to :meth:`set_csrf_cookie` on the response that shows the form)."""
        value = request.cookies.get(CSRF_COOKIE, "")
        if len(value) != _CSRF_VALUE_CHARS:
            value = secrets.token_urlsafe(32)
        return _b64(self._mac(self._keys[0], "csrf", value.encode())), value

    @staticmethod
    def set_csrf_cookie(request: Request, response: Response, value: str) -> None:
        if request.cookies.get(CSRF_COOKIE) != value:
            response.set_cookie(
                CSRF_COOKIE,
                value,
                path="/",
                secure=request.url.scheme == "https",
                httponly=True,
                samesite="lax",
            )

    def csrf_ok(self, request: Request, form: dict[str, str]) -> bool:
        value = request.cookies.get(CSRF_COOKIE, "")
        token = form.get(CSRF_FIELD, "")
        if len(value) != _CSRF_VALUE_CHARS or not token or len(token) > 64:
            return False
        try:
            mac = _unb64(token)
        except ValueError:
            return False
        return self._verify("csrf", value.encode(), mac)

    # -- tickets --------------------------------------------------------------------------------

    def ticket(self, purpose: str, payload: dict[str, Any]) -> str:
        data = json.dumps({**payload, "at": int(time.time())}, separators=(",", ":")).encode()
        return f"{_b64(data)}.{_b64(self._mac(self._keys[0], purpose, data))}"

    def open_ticket(self, purpose: str, ticket: str | None, max_age: int) -> dict[str, Any] | None:
        """The ticket's payload (with ``at``, when it was signed), or ``None`` if it is not one
        we signed for ``purpose`` in the last ``max_age`` seconds."""
        if not ticket or ticket.count(".") != 1 or len(ticket) > 12_000:
            return None
        body, mac = ticket.split(".")
        try:
            data, signature = _unb64(body), _unb64(mac)
        except ValueError:
            return None
        if not self._verify(purpose, data, signature):
            return None
        payload = json.loads(data)
        at = payload.get("at") if isinstance(payload, dict) else None
        if not isinstance(at, int) or not 0 <= time.time() - at <= max_age:
            return None
        return dict(payload)


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as single values; a field given twice, an
    oversized body or another content type is a :class:`FormError`."""
    return dict(_single(await read_form_pairs(request)))


async def read_form_pairs(request: Request) -> list[tuple[str, str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormError("expected an application/x-www-form-urlencoded form")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise FormError("the form is too large")
    try:
        return parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise FormError("the form is malformed") from None


def _single(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise FormError("a form field is given more than once")
    return pairs
