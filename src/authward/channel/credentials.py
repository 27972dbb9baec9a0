"""Read the credential a request carries, refusing ambiguous or oversized input.

RFC 6750 §2.1: the token travels as ``Authorization: Bearer <token>`` (RFC 9449 adds the ``DPoP``
scheme). A request with two Authorization headers, an oversized header, or a malformed value is
refused with ``invalid_request`` (400) rather than guessed at.
"""

from __future__ import annotations

__all__ = [
    "MAX_TOKEN_LENGTH",
    "Credential",
    "DpopRefused",
    "MalformedCredential",
    "dpop_headers",
    "read_credential",
    "request_url",
    "single_authorization",
]

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from authward.errors import UnauthenticatedError

#: Far above any token we issue (a few hundred bytes) yet small enough to refuse junk early.
MAX_TOKEN_LENGTH = 8192
# RFC 6750 §2.1 b64token
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")

Scheme = Literal["bearer", "dpop", "cookie"]


class MalformedCredential(UnauthenticatedError):
    """The request itself is malformed: 400 ``invalid_request`` (RFC 6750 §3.1)."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(code="invalid_request", message=message)


class DpopRefused(UnauthenticatedError):
    """A refusal answered with the ``DPoP`` challenge (RFC 9449 §7.1): ``code`` is
    ``invalid_dpop_proof``, ``use_dpop_nonce`` (then ``nonce`` goes out as ``DPoP-Nonce``) or
    ``invalid_token``; ``algs`` are the proof algorithms this resource accepts."""

    def __init__(
        self, *, code: str, message: str, algs: Sequence[str], nonce: str | None = None
    ) -> None:
        super().__init__(code=code, message=message)
        self.algs = tuple(algs)
        self.nonce = nonce


@dataclass(frozen=True, slots=True)
class Credential:
    scheme: Scheme
    token: str

    def __repr__(self) -> str:
        return f"Credential(scheme={self.scheme!r}, token=<{len(self.token)} chars>)"


def _header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key.lower() == name]


def read_credential(
    headers: Iterable[tuple[bytes, bytes]], *, session_cookie: str | None = "__session"
) -> Credential | None:
    """The one credential in ``headers`` (raw ASGI pairs), ``None`` when there is none."""
    headers = list(headers)
    values = _header_values(headers, b"authorization")
    if len(values) > 1:
        raise MalformedCredential("more than one Authorization header")
    if values:
        value = values[0].strip()
        if len(value) > MAX_TOKEN_LENGTH:
            raise MalformedCredential("the Authorization header is too large")
        scheme, _, token = value.partition(" ")
        token = token.strip()
        lowered = scheme.lower()
        if lowered not in ("bearer", "dpop"):
            raise MalformedCredential(f"unsupported authorization scheme {scheme[:20]!r}")
        if not token or not _B64TOKEN.match(token):
            raise MalformedCredential("the Authorization header has no valid token")
        return Credential("bearer" if lowered == "bearer" else "dpop", token)
    cookie = _cookie(headers, session_cookie) if session_cookie else None
    if cookie:
        if len(cookie) > MAX_TOKEN_LENGTH or not _B64TOKEN.match(cookie):
            raise MalformedCredential("the session cookie is malformed")
        return Credential("cookie", cookie)
    return None


def single_authorization(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The raw value of the request's Authorization header; ``None`` when there is none, or
    more than one (which :func:`read_credential` refuses)."""
    found = None
    for key, value in headers:
        if key == b"authorization" or (len(key) == 13 and key.lower() == b"authorization"):
            if found is not None:
                return None
            found = value
    return found


def _cookie(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for raw in _header_values(headers, b"cookie"):
        for part in raw.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value.strip().strip('"')
    return None


def dpop_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Every ``DPoP`` header value (there must be exactly one; see ``single_dpop_header``)."""
    return _header_values(headers, b"dpop")


def request_url(scope: Any) -> str:
    """The URL the client addressed (``Host`` header, else the server address), as a DPoP
    proof's ``htu`` names it: the path as sent, no query. Behind a proxy, run the server so it
    sees the public scheme and host (uvicorn ``--proxy-headers``, ``TrustedHostMiddleware``)."""
    scheme = scope.get("scheme", "http")
    hosts = _header_values(scope.get("headers", ()), b"host")
    if hosts:
        netloc = hosts[0]
    else:
        host, port = scope.get("server") or ("localhost", None)
        host = f"[{host}]" if ":" in host else host
        netloc = host if port in (None, 80 if scheme == "http" else 443) else f"{host}:{port}"
    raw = scope.get("raw_path")
    path = raw.decode("latin-1").partition("?")[0] if raw else quote(scope.get("path", "/"))
    return f"{scheme}://{netloc}{path}"
