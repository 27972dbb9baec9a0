"""Guards for HTTP handlers, reading what ``AuthMiddleware`` put on the request.

``protected(...)`` decorates a Starlette endpoint; ``authward.channel.fastapi`` offers the same
checks as FastAPI dependencies. Requirements are the ones of ``authward.agents.requires``.
"""

from __future__ import annotations

__all__ = ["principal_of", "protected"]

import functools
from collections.abc import Awaitable, Callable, Collection, Mapping

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from authward.agents._requires import RequiredValue, requirements
from authward.channel.chain import protected_resource
from authward.channel.responses import error_response, forbidden_response
from authward.errors import Forbidden, UnauthenticatedError
from authward.principal import Principal

Endpoint = Callable[[Request], Awaitable[Response]]


def principal_of(connection: HTTPConnection) -> Principal | None:
    principal = getattr(connection.state, "auth", None)
    return principal if isinstance(principal, Principal) else None


def protected(
    *,
    permission: str | Collection[str] | None = None,
    scope: str | Collection[str] | None = None,
    role: str | Collection[str] | None = None,
    principal_type: str | Collection[str] | None = None,
    attribute: Mapping[str, RequiredValue] | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Answer 401/403 (RFC 6750) unless the request's principal meets every requirement."""
    checks = requirements(
        permission=permission,
        scope=scope,
        role=role,
        principal_type=principal_type,
        attribute=attribute,
    )

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            subject = f"{request.method} {request.url.path}"
            try:
                checks.check_principal(principal_of(request), subject)
            except UnauthenticatedError as exc:
                metadata = protected_resource(request.scope)
                return error_response(exc, had_credentials=False, resource_metadata=metadata)
            except Forbidden as exc:
                metadata = protected_resource(request.scope)
                return forbidden_response(exc, resource_metadata=metadata)
            return await endpoint(request)

        return guarded

    return decorate
