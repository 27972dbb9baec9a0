"""FastAPI dependencies over ``AuthMiddleware``.

    app = FastAPI(exception_handlers=exception_handlers())
    app.add_middleware(AuthMiddleware, auth=[...])

    @app.get("/reports")
    async def reports(principal: Principal = Depends(current_principal)): ...

    @app.delete("/reports/{name}")
    async def delete(name: str, p: Principal = Security(require(scope="reports:write"))): ...

Refusals raise ``UnauthenticatedError`` / ``Forbidden``; ``exception_handlers()`` turns them into
401 / 403 answers with RFC 6750 challenges.

Without the middleware, ``authenticated(...)`` authenticates in the dependency itself and declares
the OpenAPI security schemes of the token types it accepts (``AuthwardApp.principal`` builds it,
docs/your-own-app.md).
"""

# No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations, and
# ``authenticated``'s refer to its own local security schemes.

__all__ = ["SECURITY_SCHEMES", "authenticated", "current_principal", "require"]

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPBearer

from authward.agents._requires import RequiredValue, requirements
from authward.channel.authenticate import TokenType
from authward.channel.guards import principal_of
from authward.errors import ConfigError
from authward.observability.tracing import identify
from authward.principal import Principal, use_principal

#: The OpenAPI security scheme of each token type; all travel as ``Authorization: Bearer``.
SECURITY_SCHEMES: Mapping[TokenType, HTTPBearer] = {
    "oauth_token": HTTPBearer(
        scheme_name="oauthToken",
        bearerFormat="JWT",
        description="An OAuth access token issued by authward (RFC 9068), such as a machine "
        "user's from the client_credentials grant at /oauth2/token.",
        auto_error=False,
    ),
    "api_key": HTTPBearer(
        scheme_name="apiKey",
        bearerFormat="ak_...",
        description="An authward API key, sent as Authorization: Bearer ak_...",
        auto_error=False,
    ),
    "session_token": HTTPBearer(
        scheme_name="sessionToken",
        bearerFormat="JWT",
        description="An authward session token (also read from the __session cookie).",
        auto_error=False,
    ),
    "m2m_token": HTTPBearer(
        scheme_name="m2mToken",
        bearerFormat="mt_...",
        description="An authward machine-to-machine token.",
        auto_error=False,
    ),
}


async def _no_scheme() -> None:
    return None


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


def authenticated(
    authenticate: Callable[[Request], Awaitable[Principal]],
    *,
    accepts_token: Sequence[TokenType],
    permission: str | Collection[str] | None = None,
    scope: str | Collection[str] | None = None,
    role: str | Collection[str] | None = None,
    principal_type: str | Collection[str] | None = None,
    attribute: Mapping[str, RequiredValue] | None = None,
) -> Callable[..., AsyncIterator[Principal]]:
    """A dependency that authenticates the request with ``authenticate``, checks the
    requirements (else 403) and yields the principal, which is also
    ``authward.current_principal()`` for the handler. ``accepts_token`` (the types
    ``authenticate`` accepts) become the operation's OpenAPI security schemes."""
    unknown = sorted(set(accepts_token) - set(SECURITY_SCHEMES))
    if unknown or not accepts_token:
        raise ConfigError(
            f"accepts_token takes one or more of {', '.join(SECURITY_SCHEMES)}",
            path="accepts_token",
        )
    checks = requirements(
        permission=permission,
        scope=scope,
        role=role,
        principal_type=principal_type,
        attribute=attribute,
    )
    # One slot per token type, in a fixed order: an operation's ``security`` lists each accepted
    # one as an alternative, so Swagger's Authorize button offers them.
    token, api_key, session, m2m = (
        SECURITY_SCHEMES[t] if t in accepts_token else _no_scheme
        for t in ("oauth_token", "api_key", "session_token", "m2m_token")
    )

    async def dependency(
        request: Request,
        _token: Annotated[object, Security(token)],
        _api_key: Annotated[object, Security(api_key)],
        _session: Annotated[object, Security(session)],
        _m2m: Annotated[object, Security(m2m)],
    ) -> AsyncIterator[Principal]:
        # Always its own check, even when a middleware or another dependency accepted the
        # request: a token type that one accepts must not pass here.
        principal = await authenticate(request)
        request.state.auth = principal
        identify(principal_id=principal.principal_id)  # on the request's span, if traced
        checks.check_principal(principal, f"{request.method} {request.url.path}")
        with use_principal(principal):
            yield principal

    return dependency
