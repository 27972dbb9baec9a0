"""Built-in chain entries: ``authward_tokens`` and ``local_dev``."""

from __future__ import annotations

__all__ = ["authward_tokens", "local_dev"]

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import HTTPConnection

from authward.channel.authenticate import (
    ApiKeyVerifier,
    M2MVerifier,
    ProofVerifier,
    SessionVerifier,
    TokenType,
    TokenVerifier,
    authenticate_request,
    check_accepts,
)
from authward.channel.chain import AuthFn
from authward.channel.credentials import DpopRefused, InvalidRequest
from authward.channel.m2m import is_machine_secret_key
from authward.errors import ConfigError, UnauthenticatedError
from authward.principal import Principal

#: Reasons that mean "this request is not for me": the next entry of the chain may take it.
_NOT_MINE = frozenset({"no-token", "token-foreign", "token-type-not-accepted"})
_DPOP_ERRORS = {"dpop-proof-invalid": "invalid_dpop_proof", "dpop-nonce-required": "use_dpop_nonce"}


def authward_tokens(
    *,
    tokens: TokenVerifier,
    api_keys: ApiKeyVerifier | None = None,
    accepts_token: Sequence[TokenType] = ("oauth_token",),
    machine_secret_key: str | None = None,
    m2m: M2MVerifier | None = None,
    sessions: SessionVerifier | None = None,
    dpop: ProofVerifier | None = None,
    to_principal: Callable[[Any], Principal | None] | None = None,
) -> AuthFn:
    """Accept authward's own tokens. A token of ours that fails is refused (401) at once;
    anything else falls through. ``to_principal`` maps the typed auth object to a Principal
    (enrich attributes from claims, org, scopes); the default follows docs/channel.md.
    ``dpop=aw.dpop`` accepts OAuth tokens sent with the DPoP scheme (and so DPoP-bound ones)."""
    check_accepts(accepts_token, machine_secret_key=machine_secret_key)
    if "m2m_token" in accepts_token:
        if m2m is None:
            raise ConfigError("accepting m2m_token needs m2m=aw.m2m_tokens", path="m2m")
        if not is_machine_secret_key(machine_secret_key or ""):
            raise ConfigError(
                "not an authward machine secret key (msk_...)", path="machine_secret_key"
            )
    if "session_token" in accepts_token and sessions is None:
        raise ConfigError("accepting session_token needs sessions=aw.sessions", path="sessions")
    accepted = tuple(accepts_token)

    async def authward_tokens_entry(request: HTTPConnection) -> Principal | None:
        state = await authenticate_request(
            request,
            tokens=tokens,
            api_keys=api_keys,
            accepts_token=accepted,
            m2m=m2m,
            machine_secret_key=machine_secret_key,
            sessions=sessions,
            dpop=dpop,
        )
        if state.is_authenticated:
            auth = state.to_auth()
            return to_principal(auth) if to_principal else auth.to_principal()
        if state.reason in _NOT_MINE:
            return None
        if state.reason == "request-invalid":
            raise InvalidRequest(state.message)
        if state.challenge == "DPoP":
            raise DpopRefused(
                code=_DPOP_ERRORS.get(state.reason or "", "invalid_token"),
                message=state.message,
                algs=dpop.algorithms if dpop is not None else (),
                nonce=state.dpop_nonce,
            )
        raise UnauthenticatedError(code="invalid_token", message=state.message)

    return authward_tokens_entry


_DEV_PRINCIPAL = Principal(
    authenticator="local-dev",
    principal_type="user",
    principal_id="local-dev",
    subject="local-dev",
    attributes={"tokenType": "local_dev"},
)


def local_dev(*, development: bool, principal: Principal = _DEV_PRINCIPAL) -> AuthFn:
    """Accept an unauthenticated request as ``principal``, only in development and only from a
    loopback peer. The peer is the socket's address; proxy headers never count."""

    async def local_dev_entry(request: HTTPConnection) -> Principal | None:
        if not development or request.client is None:
            return None
        try:
            loopback = ipaddress.ip_address(request.client.host).is_loopback
        except ValueError:
            return None
        return principal if loopback else None

    return local_dev_entry
