"""Request authentication over authward's own verifiers, for the composition root.

    entry = aw.tokens_entry(accepts_token=["oauth_token", "api_key"])      # for AuthMiddleware
    principal = await aw.authenticate_request(request, accepts_token=["oauth_token"])
    principal = await aw.verify_access_token(token)

``authward.runtime`` builds one :class:`OwnTokens` from its verifiers; both calls accept what
``authward_tokens(tokens=aw.verifier, api_keys=aw.api_keys, m2m=aw.m2m_tokens,
sessions=aw.sessions, dpop=aw.dpop, ...)`` accepts (docs/channel.md).
"""

from __future__ import annotations

__all__ = ["AudienceTokens", "OwnTokens"]

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from starlette.requests import HTTPConnection

from authward.channel.authenticate import (
    ApiKeyVerifier,
    CachingTokenVerifier,
    M2MVerifier,
    ProofVerifier,
    SessionVerifier,
    TokenType,
    authenticate_request,
)
from authward.channel.chain import AuthFn
from authward.channel.entries import authward_tokens
from authward.errors import UnauthenticatedError
from authward.oauth.resource_metadata import metadata_url
from authward.principal import Principal
from authward.tokens.verifier import principal_from_claims, token_digest

#: Accepted token types, machine secret key, and the resource bound to (its identifier).
_EntryKey = tuple[tuple[TokenType, ...], str | None, str | None]


class AudienceTokens(CachingTokenVerifier, Protocol):
    """The access-token verifier, which gives the verifier of each resource (``aw.verifier``)."""

    def for_audience(self, audience: str) -> CachingTokenVerifier: ...


#: Principals remembered by :meth:`OwnTokens.verify_access_token`.
_PRINCIPALS = 10_000


class OwnTokens:
    """authward's own token types, each checked by its verifier; DPoP-bound tokens are accepted
    with their proof (``Authorization: DPoP``)."""

    def __init__(
        self,
        tokens: AudienceTokens,
        api_keys: ApiKeyVerifier,
        m2m: M2MVerifier,
        sessions: SessionVerifier,
        dpop: ProofVerifier,
    ) -> None:
        self._tokens = tokens
        #: The verifier of each resource an entry or a call was bound to, by identifier.
        self._bound: dict[str, CachingTokenVerifier] = {}
        self._api_keys = api_keys
        self._m2m = m2m
        self._sessions = sessions
        self._dpop = dpop
        #: One entry per accepted token types, so its hot path (decision 028) is shared by every
        #: call of :meth:`authenticate`.
        self._entries: dict[_EntryKey, AuthFn] = {}
        #: Digests of the access tokens :meth:`verify_access_token` accepted -> the verification's
        #: ``for_user`` when the Principal was built, and the Principal.
        self._principals: dict[bytes, tuple[bool, Principal]] = {}

    def verifier(self, resource: str | None) -> CachingTokenVerifier:
        """The access-token verifier of ``resource`` (an identifier), or the server's own."""
        if resource is None:
            return self._tokens
        found = self._bound.get(resource)
        if found is None:
            found = self._bound[resource] = self._tokens.for_audience(resource)
        return found

    async def verify_access_token(self, token: str, resource: str | None = None) -> Principal:
        """The principal an access token acts as, or ``TokenError`` with its reason
        (``aw.verify_access_token``); with ``resource``, only a token issued for it."""
        digest = token_digest(token.encode())
        tokens = self.verifier(resource)
        verified = tokens.verify_cached(digest) or await tokens.verify_token(token, digest)
        held = self._principals.get(digest)
        if held is not None and held[0] == verified.for_user:
            return held[1]
        principal = principal_from_claims(
            verified.claims, principal_type="user" if verified.for_user else "machine"
        )
        # Only while the verifier keeps the token (AUTHWARD_VERIFIED_TOKEN_CACHE_SIZE > 0).
        if tokens.has_verified(digest):
            self._principals.pop(digest, None)
            if len(self._principals) >= _PRINCIPALS:
                del self._principals[next(iter(self._principals))]
            self._principals[digest] = (verified.for_user, principal)
        return principal

    def entry(
        self,
        accepts_token: Sequence[TokenType],
        machine_secret_key: str | None,
        to_principal: Callable[[Any], Principal | None] | None,
        resource: str | None = None,
    ) -> AuthFn:
        """``authward_tokens`` over these verifiers (``aw.tokens_entry``); bound to
        ``resource`` (an identifier), it accepts only tokens issued for it, and its refusals
        name the resource's metadata."""
        return authward_tokens(
            resource_metadata=metadata_url(resource) if resource is not None else None,
            tokens=self.verifier(resource),
            api_keys=self._api_keys,
            accepts_token=accepts_token,
            machine_secret_key=machine_secret_key,
            m2m=self._m2m,
            sessions=self._sessions,
            dpop=self._dpop,
            to_principal=to_principal,
        )

    async def authenticate(
        self,
        request: HTTPConnection,
        accepts_token: Sequence[TokenType],
        machine_secret_key: str | None,
        resource: str | None = None,
    ) -> Principal:
        """The request's principal, or ``UnauthenticatedError`` (401; ``MalformedCredential``
        400 for a malformed request) with the reason (``aw.authenticate_request``)."""
        key: _EntryKey = (tuple(accepts_token), machine_secret_key, resource)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = self.entry(key[0], machine_secret_key, None, resource)
        principal = await entry(request)
        if principal is not None:
            return principal
        # Not a token of ours, or none at all: routing only (no cryptography) says which.
        state = await authenticate_request(
            request,
            tokens=self.verifier(resource),
            api_keys=None,
            accepts_token=key[0],
            machine_secret_key=machine_secret_key,
        )
        raise UnauthenticatedError(code="authentication_required", message=state.message)
