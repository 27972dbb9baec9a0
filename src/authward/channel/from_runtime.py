"""Request authentication built from an opened runtime, its parts plumbed in.

    entry = aw.tokens_entry(accepts_token=["oauth_token", "api_key"])      # for AuthMiddleware
    principal = await aw.authenticate_request(request, accepts_token=["oauth_token"])

Both accept what ``authward_tokens(tokens=aw.verifier, api_keys=aw.api_keys, m2m=aw.m2m_tokens,
sessions=aw.sessions, dpop=aw.dpop, ...)`` accepts (docs/channel.md).
"""

from __future__ import annotations

__all__ = ["authenticate_with", "tokens_entry"]

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from starlette.requests import HTTPConnection

from authward.channel.authenticate import TokenType, authenticate_request
from authward.channel.chain import AuthFn
from authward.channel.entries import authward_tokens
from authward.errors import UnauthenticatedError
from authward.principal import Principal

if TYPE_CHECKING:
    from authward.runtime import Authward

_EntryKey = tuple[tuple[TokenType, ...], str | None]
#: One entry per runtime and accepted token types, so its hot path (decision 028) is shared by
#: every call of ``aw.authenticate_request``.
_ENTRIES: WeakKeyDictionary[Authward, dict[_EntryKey, AuthFn]] = WeakKeyDictionary()


def tokens_entry(
    aw: Authward,
    *,
    accepts_token: Sequence[TokenType] = ("oauth_token",),
    machine_secret_key: str | None = None,
    to_principal: Callable[[Any], Principal | None] | None = None,
) -> AuthFn:
    """``authward_tokens`` over this runtime's verifiers; DPoP-bound tokens are accepted with
    their proof (``Authorization: DPoP``)."""
    return authward_tokens(
        tokens=aw.verifier,
        api_keys=aw.api_keys,
        accepts_token=accepts_token,
        machine_secret_key=machine_secret_key,
        m2m=aw.m2m_tokens,
        sessions=aw.sessions,
        dpop=aw.dpop,
        to_principal=to_principal,
    )


async def authenticate_with(
    aw: Authward,
    request: HTTPConnection,
    *,
    accepts_token: Sequence[TokenType],
    machine_secret_key: str | None,
) -> Principal:
    """The request's principal, or ``UnauthenticatedError`` (401; ``MalformedCredential`` 400 for a
    malformed request) with the reason."""
    key: _EntryKey = (tuple(accepts_token), machine_secret_key)
    entries = _ENTRIES.setdefault(aw, {})
    entry = entries.get(key)
    if entry is None:
        entry = entries[key] = tokens_entry(
            aw, accepts_token=key[0], machine_secret_key=machine_secret_key
        )
    principal = await entry(request)
    if principal is not None:
        return principal
    # Not a token of ours, or none at all: routing only (no cryptography) says which.
    state = await authenticate_request(
        request,
        tokens=aw.verifier,
        api_keys=None,
        accepts_token=key[0],
        machine_secret_key=machine_secret_key,
    )
    raise UnauthenticatedError(code="authentication_required", message=state.message)
