"""``POST /oauth2/register``: dynamic client registration (RFC 7591 §3), mounted only when the
app switches it on (decision 049); without it the path is a plain 404.

Only translation happens here: the JSON body is read with a size cap, the registration service
(:class:`authward.oauth.registration.DynamicClients`) does the rest and raises ``OAuthError``s,
answered as RFC 7591 §3.2.2 says (400 ``invalid_redirect_uri`` / ``invalid_client_metadata``),
401 with a Bearer challenge for the initial access token (RFC 6750 §3), 429 with
``Retry-After`` past the per-address limit. Always ``Cache-Control: no-store``.
"""

from __future__ import annotations

__all__ = ["Registrar", "registration_routes"]

import json
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from authward.oauth.errors import (
    InvalidClientMetadata,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    TemporarilyUnavailable,
)
from authward.oauth.metadata import REGISTRATION_ENDPOINT

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: Far above any real registration (ten redirect URIs, a name, a logo URI, scopes).
MAX_BODY_BYTES = 16 * 1024


class Registrar(Protocol):
    """What the route calls of :class:`authward.oauth.registration.DynamicClients`."""

    async def register(
        self, body: object, *, authorization: str | None, ip: str | None
    ) -> dict[str, Any]: ...


class _RegistrationTooLarge(InvalidRequest):
    status = 413


async def _json(request: Request) -> object:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise InvalidClientMetadata("the request body must be application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise _RegistrationTooLarge("the request body is too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _RegistrationTooLarge("the request body is too large")
    try:
        return json.loads(bytes(body))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidClientMetadata("the request body is not JSON") from None


def _refused(exc: OAuthError, has_token: bool) -> JSONResponse:
    headers = dict(_NO_STORE)
    if isinstance(exc, InvalidToken):
        # RFC 6750 §3.1: no error code when the request carried no token at all.
        challenge = 'Bearer realm="authward"'
        if has_token:
            challenge += ', error="invalid_token"'
        headers["WWW-Authenticate"] = challenge
    if isinstance(exc, TemporarilyUnavailable):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=headers)


def registration_routes(registrar: Registrar) -> list[BaseRoute]:
    async def register(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        ip = request.client.host if request.client else None
        try:
            body = await _json(request)
            answer = await registrar.register(body, authorization=authorization, ip=ip)
        except OAuthError as exc:
            return _refused(exc, has_token=authorization is not None)
        return JSONResponse(answer, status_code=201, headers=_NO_STORE)

    return [Route(REGISTRATION_ENDPOINT, register, methods=["POST"])]
