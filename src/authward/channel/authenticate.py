"""``authenticate_request``: which token a request carries, whether it is valid, and as what.

The model is Clerk's ``authenticateRequest(request, {acceptsToken})``: the answer is a
:class:`RequestState` whose ``to_auth()`` gives a typed object per token type. Tokens are routed by
shape before any crypto: ``ak_`` prefix -> API key; ``mt_`` -> M2M token; a JWT with
``typ: at+jwt`` -> OAuth access token; a JWT with ``typ: JWT`` and a ``sid`` claim -> session
token (Bearer or ``__session`` cookie). A JWT from another issuer is "not mine"
(``token-foreign``), so a later chain entry such as ``oidc(...)`` may take it.

An OAuth access token sent as ``Authorization: DPoP <token>`` needs a valid ``DPoP`` proof for
this request on every request, cached verification or not (RFC 9449 §7.1); one bound to a key
(``cnf.jkt``) is accepted only that way.
"""

from __future__ import annotations

__all__ = [
    "ApiKeyVerifier",
    "CachingTokenVerifier",
    "M2MVerifier",
    "OAuthAuth",
    "ProofVerifier",
    "RequestState",
    "SessionVerifier",
    "TokenType",
    "TokenVerifier",
    "authenticate_request",
    "classify",
    "oauth_auth",
]

import base64
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, ParamSpec, Protocol

from starlette.requests import HTTPConnection
from starlette.types import Scope

from authward.channel.credentials import Credential, dpop_headers, read_credential, request_url
from authward.errors import ConfigError, TokenError, TooManyFailures, UnauthenticatedError
from authward.oauth.dpop import single_dpop_header
from authward.oauth.errors import InvalidDpopProof, UseDpopNonce
from authward.observability import metrics
from authward.principal import Principal
from authward.tokens.verifier import VerifiedToken, token_digest, uuids

log = logging.getLogger("authward.channel")
_P = ParamSpec("_P")

TokenType = Literal["session_token", "api_key", "m2m_token", "oauth_token"]
TOKEN_TYPES: tuple[TokenType, ...] = ("session_token", "api_key", "m2m_token", "oauth_token")
#: Token types whose verification arrives with later issues (none now).
_NOT_YET: frozenset[str] = frozenset()


class TokenVerifier(Protocol):
    issuer: str

    def has_verified(self, digest: bytes) -> bool: ...

    async def knows_key(self, kid: str) -> bool: ...

    async def verify_token(self, token: str, digest: bytes | None = None) -> VerifiedToken: ...


class CachingTokenVerifier(TokenVerifier, Protocol):
    """A :class:`TokenVerifier` that answers a token it verified before from memory, by its
    ``token_digest`` (``aw.verifier``)."""

    def verify_cached(self, digest: bytes) -> VerifiedToken | None: ...


class _Principled(Protocol):
    def to_principal(self) -> Principal: ...


class ApiKeyVerifier(Protocol):
    async def verify(self, secret: str, *, address: str | None = None) -> Any: ...


class M2MVerifier(Protocol):
    async def verify(self, token: str, machine_secret_key: str) -> Any: ...


class SessionVerifier(Protocol):
    async def verify_token(self, token: str, digest: bytes | None = None) -> Any: ...


class ProofVerifier(Protocol):
    """DPoP proof checks (``aw.dpop``, :class:`authward.oauth.dpop.DpopVerifier`)."""

    algorithms: tuple[str, ...]

    async def verify(
        self,
        proof: str | None,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        expected_jkt: str | None = None,
        require_nonce: bool | None = None,
    ) -> Any: ...


@dataclass(frozen=True)
class OAuthAuth:
    """An access token this issuer signed (RFC 9068): a machine user's or an OAuth client's."""

    subject: str
    client_id: str
    scopes: tuple[str, ...]
    user_id: str | None
    claims: Mapping[str, Any] = field(repr=False)
    token_type: Literal["oauth_token"] = "oauth_token"

    def to_principal(self) -> Principal:
        return self._principal

    @functools.cached_property
    def _principal(self) -> Principal:
        # Built once per auth object (the chain entry keeps it for the token's next requests).
        attributes: dict[str, Any] = dict(self.claims.get("attribute_map") or {})
        attributes.update(tokenType=self.token_type, scopes=self.scopes, clientId=self.client_id)
        if self.user_id is not None:
            attributes["userId"] = self.user_id
        return Principal(
            authenticator="authward",
            principal_type="machine",
            principal_id=self.subject,
            subject=self.subject,
            attributes=attributes,
            attribute_list=uuids(tuple(self.claims.get("attributes") or ())),
        )


@dataclass(frozen=True, slots=True)
class RequestState:
    is_authenticated: bool
    token_type: TokenType | None
    #: ``None`` when authenticated; otherwise a stable code: ``no-token``,
    #: ``token-type-not-accepted``, ``token-foreign``, or the verifier's (``token-expired``...).
    reason: str | None
    message: str
    auth: _Principled | None = None
    #: The challenge a refusal is answered with: ``DPoP`` when the token came with that scheme.
    challenge: Literal["Bearer", "DPoP"] = "Bearer"
    #: With reason ``dpop-nonce-required``: the nonce to send as ``DPoP-Nonce``.
    dpop_nonce: str | None = None
    #: With reason ``too-many-failures``: when to try again (``Retry-After``).
    retry_after_seconds: int = 0

    def to_auth(self) -> Any:
        """The typed auth object (``OAuthAuth``, ``ApiKeyAuth``...), ``None`` when refused."""
        return self.auth


def _jwt_header_and_payload(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(i: int) -> Any:
        seg = token.split(".")[i]
        return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))

    try:
        header, payload = part(0), part(1)
    except (ValueError, UnicodeDecodeError):
        return {}, {}
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return {}, {}
    return header, payload


def classify(
    credential: Credential, tokens: TokenVerifier, digest: bytes | None = None
) -> tuple[TokenType | None, bool]:
    """``(token type, is it ours)`` from the token's shape, before any verification; a token in
    the access-token verifier's cache (found by its ``digest``, when given) without parsing."""
    token = credential.token
    cookie = credential.scheme == "cookie"
    if token.startswith("sess_"):
        return "session_token", True  # a session secret where a token belongs: refused, with a hint
    if cookie:
        header, payload = _jwt_header_and_payload(token) if token.count(".") == 2 else ({}, {})
        ours = header.get("typ") == "JWT" and "sid" in payload
        return "session_token", ours and payload.get("iss") == tokens.issuer
    if token.startswith("ak_"):
        return "api_key", True
    if token.startswith("mt_"):
        return "m2m_token", True
    if token.count(".") == 2:
        if digest is not None and tokens.has_verified(digest):
            return "oauth_token", True
        header, payload = _jwt_header_and_payload(token)
        ours = payload.get("iss") == tokens.issuer
        if header.get("typ") == "JWT" and "sid" in payload:
            return "session_token", ours
        return "oauth_token", ours and header.get("typ") == "at+jwt"
    return None, False


async def _names_our_key(token: str, tokens: TokenVerifier) -> bool:
    """A JWT that names one of our keys is ours whatever its ``iss`` says, so it is refused with
    its reason (such as a CLI and a server that disagree on the issuer) rather than passed on
    as another issuer's."""
    kid = _jwt_header_and_payload(token)[0].get("kid")
    return isinstance(kid, str) and await tokens.knows_key(kid)


def _not_ours(token: str, issuer: str) -> str:
    """Why a token is another issuer's, for the answer when no chain entry takes it (its
    ``iss`` is the caller's own, unverified text: answered, never logged)."""
    iss = _jwt_header_and_payload(token)[1].get("iss") if token.count(".") == 2 else None
    if isinstance(iss, str) and iss != issuer:
        return f"token was issued by {iss[:200]!r}, this server is {issuer!r}"
    return "not a token of this issuer"


def _log_issuer_mismatch(exc: TokenError) -> None:
    # A token signed with our key for another issuer is a misconfiguration worth a line in the
    # log (the message names the two issuers, never the token).
    if exc.reason == "token-invalid-issuer":
        log.warning("refused an access token signed with this server's key: %s", exc)


def check_accepts(accepts_token: Sequence[str], *, machine_secret_key: str | None) -> None:
    """Refuse impossible settings at start-up, not at the first request."""
    unknown = [t for t in accepts_token if t not in TOKEN_TYPES]
    if unknown:
        raise ConfigError(
            f"unknown token type(s) {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(TOKEN_TYPES)})",
            path="accepts_token",
        )
    if not accepts_token:
        raise ConfigError("accept at least one token type", path="accepts_token")
    if "m2m_token" in accepts_token and not machine_secret_key:
        raise ConfigError(
            "accepting m2m_token needs machine_secret_key (this service's machine secret)",
            path="accepts_token",
        )
    later = sorted(_NOT_YET.intersection(accepts_token))
    if later:
        raise ConfigError(
            f"{', '.join(later)} verification is not available in this version of authward",
            path="accepts_token",
        )


def _refused(token_type: TokenType | None, reason: str, message: str) -> RequestState:
    return RequestState(False, token_type, reason, message)


def _dpop_refused(reason: str, message: str, nonce: str | None = None) -> RequestState:
    return RequestState(False, "oauth_token", reason, message, None, "DPoP", nonce)


def _counted(
    authenticate: Callable[_P, Awaitable[RequestState]],
) -> Callable[_P, Awaitable[RequestState]]:
    """Counts each presented credential by kind and outcome (``valid`` or the refusal's reason
    code: a fixed set); a request without one is not a verification."""

    @functools.wraps(authenticate)
    async def counted(*args: _P.args, **kwargs: _P.kwargs) -> RequestState:
        state = await authenticate(*args, **kwargs)
        if state.reason not in ("no-token", "request-invalid"):
            metrics.verification(state.token_type or "unknown", state.reason or "valid")
        return state

    return counted


@_counted
async def authenticate_request(
    request: HTTPConnection | Scope,
    *,
    tokens: TokenVerifier,
    api_keys: ApiKeyVerifier | None,
    accepts_token: Sequence[TokenType],
    m2m: M2MVerifier | None = None,
    machine_secret_key: str | None = None,
    sessions: SessionVerifier | None = None,
    dpop: ProofVerifier | None = None,
    digested: tuple[bytes, bytes] | None = None,
) -> RequestState:
    """Verify the credential of ``request`` (a Starlette/FastAPI request or a raw ASGI scope)
    against the accepted token types. Without ``dpop`` (``aw.dpop``) a token sent with the
    DPoP scheme is refused. ``digested``: what follows ``Bearer`` in the request's one
    Authorization header and its ``token_digest``, when the caller took it (the chain entry),
    so that a request takes it once."""
    scope = request.scope if isinstance(request, HTTPConnection) else request
    try:
        credential = read_credential(scope["headers"])
    except UnauthenticatedError as exc:
        return _refused(None, "request-invalid", exc.message)
    if credential is None:
        return _refused(None, "no-token", "the request carries no token")
    digest = None
    if credential.token.count(".") == 2:
        token = credential.token.encode()
        if digested is not None and digested[0] == token:
            digest = digested[1]
        else:
            digest = token_digest(token)
    token_type, ours = classify(credential, tokens, digest)
    if token_type == "oauth_token" and not ours and "oauth_token" in accepts_token:
        ours = await _names_our_key(credential.token, tokens)
    if token_type is None or not ours:
        return _refused(token_type, "token-foreign", _not_ours(credential.token, tokens.issuer))
    if token_type not in accepts_token:
        return _refused(token_type, "token-type-not-accepted", f"{token_type} is not accepted here")
    try:
        if token_type == "api_key" and api_keys is not None:
            client = scope.get("client")
            auth = await api_keys.verify(credential.token, address=client[0] if client else None)
            return RequestState(True, token_type, None, "", auth)
        if token_type == "m2m_token" and m2m is not None and machine_secret_key:
            auth = await m2m.verify(credential.token, machine_secret_key)
            return RequestState(True, token_type, None, "", auth)
        if token_type == "session_token" and sessions is not None:
            if credential.scheme == "dpop":
                return _refused(token_type, "token-invalid", "a session token is not DPoP-bound")
            auth = await sessions.verify_token(credential.token, digest)
            return RequestState(True, token_type, None, "", auth)
        if token_type == "oauth_token":
            if credential.scheme == "dpop":
                return await _with_proof(scope, credential.token, digest, tokens, dpop)
            verified = await tokens.verify_token(credential.token, digest)
            if "cnf" in verified.claims:
                # RFC 9449 §7.1: a DPoP-bound token presented as a Bearer token is refused.
                return _refused(token_type, "token-dpop-bound", "a DPoP-bound token needs DPoP")
            return RequestState(True, token_type, None, "", oauth_auth(verified))
    except TooManyFailures as exc:
        return RequestState(
            False, token_type, exc.reason, str(exc), retry_after_seconds=exc.retry_after_seconds
        )
    except TokenError as exc:
        _log_issuer_mismatch(exc)
        return _refused(token_type, exc.reason, str(exc))
    return _refused(token_type, "token-type-not-accepted", f"{token_type} is not available here")


async def _with_proof(
    scope: Scope,
    token: str,
    digest: bytes | None,
    tokens: TokenVerifier,
    dpop: ProofVerifier | None,
) -> RequestState:
    """RFC 9449 §7.1: the token, then a proof made for this request, this token (``ath``) and,
    when the token is bound, its key."""
    if dpop is None:
        return _dpop_refused("dpop-unsupported", "DPoP is not accepted here")
    try:
        verified = await tokens.verify_token(token, digest)
    except TokenError as exc:
        _log_issuer_mismatch(exc)
        return _dpop_refused(exc.reason, str(exc))
    cnf = verified.claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if cnf is not None and not isinstance(jkt, str):
        return _dpop_refused("token-invalid", "the token is bound to no DPoP key")
    try:
        await dpop.verify(
            single_dpop_header(dpop_headers(scope["headers"])),
            method=scope.get("method", "GET"),
            url=request_url(scope),
            access_token=token,
            expected_jkt=jkt,
        )
    except UseDpopNonce as exc:
        return _dpop_refused("dpop-nonce-required", exc.description, exc.nonce)
    except InvalidDpopProof as exc:
        return _dpop_refused("dpop-proof-invalid", exc.description)
    return RequestState(True, "oauth_token", None, "", oauth_auth(verified))


def oauth_auth(verified: VerifiedToken) -> OAuthAuth:
    claims = verified.claims
    scope = claims.get("scope")
    scopes = tuple(scope.split()) if isinstance(scope, str) else ()
    # A token an OAuth client holds for a user has the user as its subject (RFC 9068 §2.2).
    user_id = claims["sub"] if verified.for_user else claims.get("user_id")
    return OAuthAuth(
        subject=str(claims["sub"]),
        client_id=str(claims["client_id"]),
        scopes=scopes,
        user_id=str(user_id) if user_id is not None else None,
        claims=claims,
    )
