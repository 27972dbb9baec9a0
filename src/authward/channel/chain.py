"""The auth chain: ``AuthFn`` entries tried in order (the seed's eve channel semantics).

An entry has three outcomes: a Principal (accepted: the chain stops), ``None`` (not mine: the
next entry tries), or ``UnauthenticatedError`` (refused: 401 at once). Any other exception is a
bug in that entry: logged with its traceback, answered with a 500 that says nothing more.
"""

from __future__ import annotations

__all__ = ["AuthChainFailure", "AuthFn", "run_chain"]

import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import HTTPConnection

from authward.errors import UnauthenticatedError
from authward.principal import Principal

AuthFn = Callable[[HTTPConnection], Awaitable[Principal | None]]
log = logging.getLogger("authward.channel")


class AuthChainFailure(Exception):
    """An entry raised something other than UnauthenticatedError (already logged)."""


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
    raise UnauthenticatedError(
        code="authentication_required", message="no authenticator accepted this request"
    )
