"""Built-in chain entries: ``authward_tokens`` and ``local_dev``."""

from __future__ import annotations

__all__ = ["authward_tokens", "local_dev"]

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from authward.channel.authenticate import (
    ApiKeyVerifier,
    M2MVerifier,
    OAuthAuth,
    ProofVerifier,
    SessionVerifier,
    TokenType,
    TokenVerifier,
    authenticate_request,
    check_accepts,
)
from authward.channel.chain import AuthFn, passed_over, protects
from authward.channel.credentials import (
    DpopRefused,
    MalformedCredential,
    single_authorization,
)
from authward.errors import ConfigError, RateLimited, TokenError, UnauthenticatedError
from authward.principal import Principal
from authward.tokens import opaque
from authward.tokens.verifier import VerifiedToken, token_digest

#: Reasons that mean "this request is not for me": the next entry of the chain may take it.
_NOT_MINE = frozenset({"no-token", "token-foreign", "token-type-not-accepted"})
#: Tokens remembered per entry; as many as the verified-token cache holds by default.
_HOT_SIZE = 10_000
#: The machine secret key format's prefix (identity/machines.py, which sits above channel/).
_MACHINE_SECRET_KEY_PREFIX = "msk_"
_DPOP_ERRORS = {"dpop-proof-invalid": "invalid_dpop_proof", "dpop-nonce-required": "use_dpop_nonce"}


@dataclass(frozen=True, slots=True)
class _Accepted:
    """What an entry made of an OAuth token it accepted as a Bearer token."""

    auth: OAuthAuth
    #: The verification's ``for_user`` when ``auth`` was built: ``auth`` is stale once it differs.
    for_user: bool


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
    resource_metadata: str | None = None,
) -> AuthFn:
    """Accept authward's own tokens. A token of ours that fails is refused (401) at once;
    anything else falls through. ``to_principal`` maps the typed auth object to a Principal
    (enrich attributes from claims, org, scopes); the default follows docs/channel.md.
    ``dpop=aw.dpop`` accepts OAuth tokens sent with the DPoP scheme (and so DPoP-bound ones).
    ``resource_metadata``: the RFC 9728 metadata URL of the resource ``tokens`` is bound to
    (``aw.tokens_entry(resource=...)``); every refusal of the request points to it."""
    check_accepts(accepts_token, machine_secret_key=machine_secret_key)
    if "m2m_token" in accepts_token:
        if m2m is None:
            raise ConfigError("accepting m2m_token needs m2m=aw.m2m_tokens", path="m2m")
        if not opaque.is_well_formed(machine_secret_key or "", _MACHINE_SECRET_KEY_PREFIX):
            raise ConfigError(
                "not an authward machine secret key (msk_...)", path="machine_secret_key"
            )
    if "session_token" in accepts_token and sessions is None:
        raise ConfigError("accepting session_token needs sessions=aw.sessions", path="sessions")
    accepted = tuple(accepts_token)
    verify_cached: Callable[[bytes], VerifiedToken | None] | None = (
        getattr(tokens, "verify_cached", None) if "oauth_token" in accepted else None
    )
    #: Digests (``token_digest``) of the tokens this entry accepted as ``Bearer`` OAuth tokens
    #: -> what it made of them: a token presented again skips parsing and routing, and goes
    #: straight to the verifier's cached checks (expiry, revocation, subject, key).
    hot: dict[bytes, _Accepted] = {}

    def principal(auth: Any) -> Principal | None:
        return to_principal(auth) if to_principal else auth.to_principal()

    async def authward_tokens_entry(request: HTTPConnection) -> Principal | None:
        if resource_metadata is not None:
            protects(request, resource_metadata)
        digest = presented = None
        if verify_cached is not None:
            raw = single_authorization(request.scope["headers"])
            # A JWT (``{"`` in base64url): an API key or an M2M token is not digested here.
            if raw is not None and raw.startswith(b"Bearer eyJ"):
                presented = raw[7:]
                digest = token_digest(presented)
                held = hot.get(digest)
                if held is not None:
                    try:
                        verified = verify_cached(digest)
                    except TokenError:
                        verified = None  # the full path below refuses it with its reason
                    if verified is not None and verified.for_user == held.for_user:
                        return principal(held.auth)
                    del hot[digest]
        state = await authenticate_request(
            request,
            tokens=tokens,
            api_keys=api_keys,
            accepts_token=accepted,
            m2m=m2m,
            machine_secret_key=machine_secret_key,
            sessions=sessions,
            dpop=dpop,
            digested=(presented, digest) if presented is not None and digest else None,
        )
        if state.is_authenticated:
            auth = state.to_auth()
            if digest is not None and verify_cached and state.token_type == "oauth_token":
                # Only while the verifier keeps the token (AUTHWARD_VERIFIED_TOKEN_CACHE_SIZE >
                # 0): it is kept under this digest only when the header carried exactly it.
                verified = verify_cached(digest)
                if verified is not None:
                    if len(hot) >= _HOT_SIZE:
                        del hot[next(iter(hot))]
                    hot[digest] = _Accepted(auth, verified.for_user)
            return principal(auth)
        if state.reason in _NOT_MINE:
            if state.reason == "token-foreign":
                passed_over(request, state.message)
            return None
        if state.reason == "request-invalid":
            raise MalformedCredential(state.message)
        if state.reason == "too-many-failures":
            raise RateLimited(message=state.message, retry_after_seconds=state.retry_after_seconds)
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
