"""The auth chain: ``AuthFn`` entries tried in order (the seed's eve channel semantics).

An entry has three outcomes: a Principal (accepted: the chain stops), ``None`` (not mine: the
next entry tries), or ``UnauthenticatedError`` (refused: 401 at once). Any other exception is a
bug in that entry: logged with its traceback, answered with a 500 that says nothing more.
"""

from __future__ import annotations

__all__ = [
    "AuthChainFailure",
    "AuthFn",
    "passed_over",
    "protected_resource",
    "protects",
    "run_chain",
]

import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import HTTPConnection
from starlette.types import Scope

from authward.errors import AuthwardError, UnauthenticatedError
from authward.principal import Principal

AuthFn = Callable[[HTTPConnection], Awaitable[Principal | None]]
log = logging.getLogger("authward.channel")


class AuthChainFailure(AuthwardError):
    """An entry raised something other than UnauthenticatedError (already logged): 500."""

    code = "server_error"


#: The scope key of why an entry passed a request's token over (see :func:`passed_over`).
_PASSED_OVER = "authward.passed_over"


def passed_over(request: HTTPConnection, why: str) -> None:
    """An entry saw a token that is not its own: ``why`` ends the answer if no entry takes it,
    so a caller learns more than "no authenticator accepted" (such as the token's issuer and
    ours). Only the first entry's reason is kept."""
    request.scope.setdefault(_PASSED_OVER, why)


#: The scope key of the protected resource metadata URL (RFC 9728) of the resource a chain
#: entry protects (see :func:`protects`).
_RESOURCE_METADATA = "authward.resource_metadata"


def protects(request: HTTPConnection, resource_metadata: str) -> None:
    """An entry bound to a resource says so: every refusal of this request (401 from the
    chain, 403 from a guard) then points the client at the resource's metadata
    (``WWW-Authenticate: Bearer resource_metadata="..."``, RFC 9728 §5.1)."""
    request.scope.setdefault(_RESOURCE_METADATA, resource_metadata)


def protected_resource(scope: Scope) -> str | None:
    """The resource metadata URL an entry recorded for this request, if any."""
    found = scope.get(_RESOURCE_METADATA)
    return found if isinstance(found, str) else None


def _name(fn: AuthFn) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


async def run_chain(entries: Sequence[AuthFn], request: HTTPConnection) -> Principal:
    for fn in entries:
        try:
            principal = await fn(request)
        except UnauthenticatedError:
            raise
        except Exception as exc:
            log.exception("auth entry %s failed", _name(fn))
            raise AuthChainFailure(_name(fn)) from exc
        if principal is not None:
            if not isinstance(principal, Principal):
                log.error("auth entry %s returned %s, not a Principal", _name(fn), type(principal))
                raise AuthChainFailure(_name(fn))
            return principal
    why = request.scope.get(_PASSED_OVER)
    message = "no authenticator accepted this request"
    raise UnauthenticatedError(
        code="authentication_required", message=f"{message}: {why}" if why else message
    )
