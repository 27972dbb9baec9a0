"""FastAPI dependencies over ``AuthMiddleware``.

    app = FastAPI(exception_handlers=exception_handlers())
    app.add_middleware(AuthMiddleware, auth=[...])

    @app.get("/reports")
    async def reports(principal: Principal = Depends(current_principal)): ...

    @app.delete("/reports/{name}")
    async def delete(name: str, p: Principal = Security(require(scope="reports:write"))): ...

Refusals raise ``UnauthenticatedError`` / ``Forbidden``; ``exception_handlers()`` turns them into
401 / 403 answers with RFC 6750 challenges.
"""

from __future__ import annotations

__all__ = ["current_principal", "require"]

from collections.abc import Callable, Collection, Mapping

from fastapi import Request

from authward.agents._requires import RequiredValue, requirements
from authward.channel.guards import principal_of
from authward.principal import Principal


def current_principal(request: Request) -> Principal:
    """The request's principal; 401 when the chain accepted nobody (e.g. a public path)."""
    return requirements().check_principal(principal_of(request), request.url.path)


def require(
    *,
    permission: str | Collection[str] | None = None,
    scope: str | Collection[str] | None = None,
    role: str | Collection[str] | None = None,
    principal_type: str | Collection[str] | None = None,
    attribute: Mapping[str, RequiredValue] | None = None,
) -> Callable[[Request], Principal]:
    """A dependency that returns the principal when it meets every requirement, else 403."""
    checks = requirements(
        permission=permission,
        scope=scope,
        role=role,
        principal_type=principal_type,
        attribute=attribute,
    )

    def dependency(request: Request) -> Principal:
        return checks.check_principal(principal_of(request), f"{request.method} {request.url.path}")

    return dependency
