"""How a refused request is answered: RFC 6750 §3 (and RFC 9449 §7.1 for DPoP).

The body is ``{"error": code, "message": ...}``; ``WWW-Authenticate`` carries an RFC error code.
A request with no credentials at all gets a bare challenge (RFC 6750 §3.1: no error code then).
"""

from __future__ import annotations

__all__ = ["error_response", "server_error_response"]

from starlette.responses import JSONResponse

from authward.errors import UnauthenticatedError

_RFC_CODES = frozenset({"invalid_request", "invalid_token", "insufficient_scope"})


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def error_response(
    exc: UnauthenticatedError, *, had_credentials: bool, realm: str = "authward"
) -> JSONResponse:
    status = getattr(exc, "status", 401)
    challenge = f'Bearer realm="{_quote(realm)}"'
    if had_credentials or exc.code in _RFC_CODES:
        rfc_code = exc.code if exc.code in _RFC_CODES else "invalid_token"
        challenge += f', error="{rfc_code}", error_description="{_quote(exc.message)}"'
    return JSONResponse(
        {"error": exc.code, "message": exc.message},
        status_code=status,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )


def server_error_response() -> JSONResponse:
    return JSONResponse(
        {"error": "server_error", "message": "the server could not authenticate this request"},
        status_code=500,
        headers={"Cache-Control": "no-store"},
    )
