"""The management API's one error shape, and the OpenAPI document that says so (decision 052).

Every refusal under ``/v1`` is ``{"error": code, "message": text}`` (plus ``errors`` for input of
the wrong shape): the shape the request chain already answers 401 and 403 with
(:mod:`authward.channel.responses`), so a client reads one shape whoever refused. The services'
errors become responses here (``ERRORS``): a broken rule is 400 ``invalid_request``, something
that does not exist 404 ``not_found``, a clash with the store's state 409 ``conflict``.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "ErrorOut",
    "NotFound",
    "error_handlers",
    "error_responses",
    "management_openapi",
]

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from authward.errors import AuthwardError, ConfigError, RecordError
from authward.identity.orgs import OrganizationConflict, OrganizationError, OrganizationNotFound
from authward.users.errors import UnknownUser, UserError, UsernameTaken


class NotFound(AuthwardError):
    """What a path names does not exist (404 ``not_found``)."""

    code = "not_found"


class BadRequest(AuthwardError):
    """A query parameter is well formed but means nothing here (400 ``invalid_request``)."""

    code = "invalid_request"


#: Error class -> (status, ``error``). The most specific class in an exception's MRO wins.
ERRORS: dict[type[Exception], tuple[int, str]] = {
    ConfigError: (400, "invalid_request"),
    BadRequest: (400, "invalid_request"),
    RecordError: (400, "invalid_request"),
    NotFound: (404, "not_found"),
    OrganizationNotFound: (404, "not_found"),
    OrganizationConflict: (409, "conflict"),
    # Any other refusal of the organizations' state is a conflict with it.
    OrganizationError: (409, "conflict"),
    UnknownUser: (404, "not_found"),
    UsernameTaken: (409, "conflict"),
    # The rest: a username or password the policy refuses.
    UserError: (400, "invalid_request"),
}

#: The ``error`` of a refusal Starlette or FastAPI raise themselves (a body that is not JSON,
#: a path or method no route has).
_HTTP_ERRORS = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}


class ErrorOut(BaseModel):
    """Every refusal of the management API."""

    error: str = Field(
        description="invalid_request, authentication_required (or another code of the "
        "request chain's, e.g. invalid_token), insufficient_scope, not_found, "
        "method_not_allowed or conflict"
    )
    message: str = Field(description="what is wrong, for a person")
    errors: list[dict[str, Any]] | None = Field(
        default=None,
        description="input of the wrong shape (422), or a payload a job's schema refuses (400): "
        "each problem's loc, msg and type",
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer."""
    return {status: {"model": ErrorOut} for status in statuses}


def _location(loc: Any) -> str:
    return ".".join(str(part) for part in loc)


async def _refused(_: Request, exc: Exception) -> Response:
    status, error = next(ERRORS[c] for c in type(exc).__mro__ if c in ERRORS)
    return JSONResponse({"error": error, "message": str(exc)}, status_code=status)


async def _http_refused(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = _HTTP_ERRORS.get(exc.status_code, "invalid_request")
    return JSONResponse(
        {"error": error, "message": str(exc.detail)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _malformed(_: Request, exc: Exception) -> Response:
    """Input of the wrong shape: 422 with each problem's place, never the input itself (a
    password in a body must not come back in a response or a log)."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    message = "; ".join(f"{_location(p['loc'])}: {p['msg']}" for p in problems[:5])
    return JSONResponse(
        {"error": "invalid_request", "message": message or "malformed request", "errors": problems},
        status_code=422,
    )


def error_handlers() -> dict[Any, Callable[[Request, Exception], Any]]:
    """For ``FastAPI(exception_handlers=...)``, after the chain's own (401, 403)."""
    return {
        **dict.fromkeys(ERRORS, _refused),
        HTTPException: _http_refused,
        RequestValidationError: _malformed,
    }


#: How a caller authenticates: an access token of an admin machine user (``authward
#: machineuser token NAME``, or the client credentials grant at ``/oauth2/token``).
_SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token of one of AUTHWARD_ADMIN_MACHINE_USERS "
        "(`authward machineuser token NAME`, or the client credentials grant at "
        "/oauth2/token). A DPoP-bound token is sent as `Authorization: DPoP` with its proof.",
    }
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def management_openapi(api: FastAPI) -> Callable[[], dict[str, Any]]:
    """``api.openapi``: FastAPI's document with the security scheme the API accepts, applied to
    every operation, and one error schema for every 4xx answer (the 401 and 403 that the chain
    answers before any handler included)."""

    def build() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        doc = get_openapi(
            title=api.title, version=api.version, description=api.description, routes=api.routes
        )
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for fastapi_own in ("HTTPValidationError", "ValidationError"):
            schemas.pop(fastapi_own, None)
        schemas["ErrorOut"] = ErrorOut.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components["securitySchemes"] = _SECURITY_SCHEMES
        doc["security"] = [{"bearerAuth": []}]
        for path in doc.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                responses.setdefault("401", {"description": "no token, or one refused"})
                responses.setdefault("403", {"description": "not an admin machine user"})
                for status, answer in responses.items():
                    if status.startswith("4"):
                        answer["content"] = {"application/json": {"schema": _ERROR_REF}}
                        if status == "422":
                            answer["description"] = "input of the wrong shape"
        api.openapi_schema = doc
        return doc

    return build
