"""How a refused request is answered: RFC 6750 §3 (and RFC 9449 §7.1 for DPoP).

The body is ``{"error": code, "message": ...}``; ``WWW-Authenticate`` carries an RFC error code.
A request with no credentials at all gets a bare challenge (RFC 6750 §3.1: no error code then).
When the refusing entry protects a declared resource, every challenge also carries its
``resource_metadata`` URL (RFC 9728 §5.1).
"""

from __future__ import annotations

__all__ = [
    "error_response",
    "exception_handlers",
    "forbidden_response",
    "server_error_response",
]

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authward.channel.chain import protected_resource
from authward.channel.credentials import DpopRefused
from authward.errors import Forbidden, RateLimited, UnauthenticatedError

_RFC_CODES = frozenset({"invalid_request", "invalid_token", "insufficient_scope"})
_DPOP_CODES = frozenset({"invalid_token", "invalid_dpop_proof", "use_dpop_nonce"})


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _metadata(resource_metadata: str | None) -> str:
    """RFC 9728 §5.1: where the client finds the protected resource's metadata."""
    return f', resource_metadata="{_quote(resource_metadata)}"' if resource_metadata else ""


def error_response(
    exc: UnauthenticatedError,
    *,
    had_credentials: bool,
    realm: str = "authward",
    resource_metadata: str | None = None,
) -> JSONResponse:
    """``resource_metadata``: the metadata URL of the resource the refusing entry protects."""
    if isinstance(exc, DpopRefused):
        return _dpop_response(exc, realm, resource_metadata)
    status = getattr(exc, "status", 401)
    if isinstance(exc, RateLimited):
        return JSONResponse(
            {"error": exc.code, "message": exc.message},
            status_code=status,
            headers={"Retry-After": str(exc.retry_after_seconds), "Cache-Control": "no-store"},
        )
    challenge = f'Bearer realm="{_quote(realm)}"'
    if had_credentials or exc.code in _RFC_CODES:
        rfc_code = exc.code if exc.code in _RFC_CODES else "invalid_token"
        challenge += f', error="{rfc_code}", error_description="{_quote(exc.message)}"'
    challenge += _metadata(resource_metadata)
    return JSONResponse(
        {"error": exc.code, "message": exc.message},
        status_code=status,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )


def _dpop_response(exc: DpopRefused, realm: str, resource_metadata: str | None) -> JSONResponse:
    """RFC 9449 §7.1: the DPoP challenge names the error and the accepted proof algorithms;
    ``use_dpop_nonce`` comes with the nonce to retry with (§9)."""
    code = exc.code if exc.code in _DPOP_CODES else "invalid_token"
    challenge = (
        f'DPoP realm="{_quote(realm)}", error="{code}", error_description="{_quote(exc.message)}"'
    )
    if exc.algs:
        challenge += f', algs="{" ".join(exc.algs)}"'
    challenge += _metadata(resource_metadata)
    headers = {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
    if exc.nonce:
        headers["DPoP-Nonce"] = exc.nonce
    return JSONResponse(
        {"error": exc.code, "message": exc.message}, status_code=401, headers=headers
    )


def forbidden_response(
    exc: Forbidden, *, realm: str = "authward", resource_metadata: str | None = None
) -> JSONResponse:
    """RFC 6750 §3.1: the token is valid but lacks what the resource requires. When what it
    lacks are scopes, ``scope`` names them, so the client can ask for them (step-up)."""
    message = str(exc)
    challenge = (
        f'Bearer realm="{_quote(realm)}", error="insufficient_scope", '
        f'error_description="{_quote(message)}"'
    )
    if exc.scopes:
        challenge += f', scope="{_quote(" ".join(exc.scopes))}"'
    challenge += _metadata(resource_metadata)
    return JSONResponse(
        {"error": exc.code, "message": message},
        status_code=403,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )


def server_error_response() -> JSONResponse:
    return JSONResponse(
        {"error": "server_error", "message": "the server could not authenticate this request"},
        status_code=500,
        headers={"Cache-Control": "no-store"},
    )


def exception_handlers(realm: str = "authward") -> dict[Any, Any]:
    """For ``Starlette(exception_handlers=...)`` / FastAPI: a ``@requires`` refusal inside a
    handler becomes 403 ``insufficient_scope`` instead of a 500, and a dependency's
    ``UnauthenticatedError`` a 401 (a bare challenge when the request sent no credentials)."""

    async def on_forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forbidden)
        metadata = protected_resource(request.scope)
        return forbidden_response(exc, realm=realm, resource_metadata=metadata)

    async def on_unauthenticated(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UnauthenticatedError)
        had = any(k.lower() in (b"authorization", b"cookie") for k, _ in request.scope["headers"])
        metadata = protected_resource(request.scope)
        return error_response(exc, had_credentials=had, realm=realm, resource_metadata=metadata)

    return {Forbidden: on_forbidden, UnauthenticatedError: on_unauthenticated}
