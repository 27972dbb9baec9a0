"""Starlette wiring of the authorization server's token side (docs/authorization-server.md).

    POST /oauth2/token        RFC 6749 §3.2, §4.1.3, §4.4, §6; RFC 7636; RFC 9449 §5
    POST /oauth2/introspect   RFC 7662
    POST /oauth2/revoke       RFC 7009
    GET|POST /oauth2/userinfo OIDC Core §5.3, errors per RFC 6750 §3 / RFC 9449 §7.1
    GET /.well-known/openid-configuration, /.well-known/oauth-authorization-server

Only translation happens here: the body is read with a size cap and parsed by
``authward.oauth.forms``; the authorization server does the protocol and raises ``OAuthError``s,
rendered as RFC 6749 §5.2 says, always with ``Cache-Control: no-store``.
"""

from __future__ import annotations

__all__ = ["ClaimsDirectory", "TokenEndpoints", "oauth_routes"]

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from authward.channel.authenticate import (
    ProofVerifier,
    RequestState,
    TokenVerifier,
    authenticate_request,
)
from authward.channel.credentials import dpop_headers, request_url
from authward.oauth.clients import presented
from authward.oauth.dpop import single_dpop_header
from authward.oauth.errors import (
    InvalidClient,
    InvalidRequest,
    OAuthError,
    TemporarilyUnavailable,
    UseDpopNonce,
)
from authward.oauth.failures import FailedAuthentications
from authward.oauth.forms import MAX_BODY_BYTES, parse_form
from authward.oauth.token import TokenRequest
from authward.oauth.userinfo import UserInfoError, granted_scopes, userinfo_claims
from authward.observability import metrics
from authward.observability.tracing import identify
from authward.users.values import UserClaims

T = TypeVar("T")


class TokenEndpoints(Protocol):
    """What the routes call of :class:`authward.oauth.server.AuthorizationServer`."""

    async def token(self, request: TokenRequest) -> dict[str, Any]: ...
    async def introspect(
        self, form: Mapping[str, str], authorization: str | None
    ) -> dict[str, Any]: ...
    async def revoke(
        self, form: Mapping[str, str], authorization: str | None, *, ip: str | None = None
    ) -> None: ...
    def metadata(self) -> dict[str, Any]: ...


class ClaimsDirectory(Protocol):
    """What userinfo reads of :class:`authward.users.Users`."""

    async def claims(self, user_id: str) -> UserClaims | None: ...


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_METADATA_MAX_AGE = 300


class _TooLarge(InvalidRequest):
    status = 413


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


async def _form(request: Request) -> dict[str, str]:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise _TooLarge("the request body is too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _TooLarge("the request body is too large")
    return parse_form(request.headers.get("content-type"), bytes(body))


def _uses_basic(request: Request) -> bool:
    return request.headers.get("authorization", "").strip().lower().startswith("basic ")


def _error(request: Request, exc: OAuthError) -> JSONResponse:
    headers = dict(_NO_STORE)
    if isinstance(exc, InvalidClient) and _uses_basic(request):
        # RFC 6749 §5.2: a client that tried Basic is answered with the Basic challenge.
        headers["WWW-Authenticate"] = 'Basic realm="authward"'
    if isinstance(exc, UseDpopNonce):
        headers["DPoP-Nonce"] = exc.nonce
    if isinstance(exc, TemporarilyUnavailable):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=headers)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _userinfo_refused(dpop: ProofVerifier, state: RequestState) -> JSONResponse:
    """RFC 6750 §3.1 (or RFC 9449 §7.1 when the token came as DPoP)."""
    headers = dict(_NO_STORE)
    scheme = state.challenge
    challenge = f'{scheme} realm="authward"'
    code = "invalid_token"
    if state.reason == "dpop-nonce-required":
        code = "use_dpop_nonce"
    elif state.reason == "dpop-proof-invalid":
        code = "invalid_dpop_proof"
    elif state.reason in ("request-invalid",):
        code = "invalid_request"
    if state.reason != "no-token":
        challenge += f', error="{code}", error_description="{_quote(state.message)}"'
    if scheme == "DPoP":
        challenge += f', algs="{" ".join(dpop.algorithms)}"'
    headers["WWW-Authenticate"] = challenge
    if state.dpop_nonce:
        headers["DPoP-Nonce"] = state.dpop_nonce
    status = 400 if code == "invalid_request" else 401
    body = {"error": code, "error_description": state.message}
    return JSONResponse(body, status_code=status, headers=headers)


def _claimed_client(form: dict[str, str], request: Request) -> str | None:
    """The client id the request names, before anything is checked."""
    try:
        return presented(form, request.headers.get("authorization")).client_id
    except OAuthError:
        return None


def oauth_routes(
    oauth: TokenEndpoints,
    *,
    failures: FailedAuthentications,
    verifier: TokenVerifier,
    dpop: ProofVerifier,
    users: ClaimsDirectory,
) -> list[BaseRoute]:

    async def limited(request: Request, call: Callable[[dict[str, str]], Awaitable[T]]) -> T:
        """``call(form)`` unless the client or the address has failed to authenticate too often
        (429); an ``invalid_client`` answer counts against both (decision 037)."""
        form = await _form(request)
        claimed = _claimed_client(form, request)
        identify(client_id=claimed[:200] if claimed else None)
        keys = failures.keys(claimed, _ip(request))
        wait = await failures.retry_after(keys)
        if wait:
            metrics.rate_limited("client_auth")
            raise TemporarilyUnavailable(wait)
        try:
            return await call(form)
        except InvalidClient:
            await failures.failed(keys)
            raise

    async def token(request: Request) -> Response:
        grant: str | None = None

        def issue(form: dict[str, str]) -> Awaitable[dict[str, Any]]:
            nonlocal grant
            grant = form.get("grant_type")
            return oauth.token(
                TokenRequest(
                    form=form,
                    authorization=request.headers.get("authorization"),
                    dpop=single_dpop_header(dpop_headers(request.scope["headers"])),
                    url=request_url(request.scope),
                    ip=_ip(request),
                )
            )

        try:
            body = await limited(request, issue)
        except OAuthError as exc:
            metrics.token_refused(grant, exc.code)
            return _error(request, exc)
        metrics.token_issued(grant)
        return JSONResponse(body, headers=_NO_STORE)

    async def introspect(request: Request) -> Response:
        def inspect(form: dict[str, str]) -> Awaitable[dict[str, Any]]:
            return oauth.introspect(form, request.headers.get("authorization"))

        try:
            body = await limited(request, inspect)
        except OAuthError as exc:
            return _error(request, exc)
        return JSONResponse(body, headers=_NO_STORE)

    async def revoke(request: Request) -> Response:
        def take_back(form: dict[str, str]) -> Awaitable[None]:
            return oauth.revoke(form, request.headers.get("authorization"), ip=_ip(request))

        try:
            await limited(request, take_back)
        except OAuthError as exc:
            return _error(request, exc)
        return Response(status_code=200, headers=_NO_STORE)

    async def userinfo(request: Request) -> Response:
        state = await authenticate_request(
            request, tokens=verifier, api_keys=None, accepts_token=["oauth_token"], dpop=dpop
        )
        if not state.is_authenticated:
            return _userinfo_refused(dpop, state)
        claims: dict[str, Any] = dict(state.to_auth().claims)
        sub = str(claims["sub"])
        try:
            granted_scopes(claims)
            user = await users.claims(sub)
            body = userinfo_claims(claims, None if user is None or user.disabled else user)
        except UserInfoError as exc:
            challenge = (
                f'{state.challenge} realm="authward", error="{exc.code}", '
                f'error_description="{_quote(exc.description)}"'
            )
            return JSONResponse(
                {"error": exc.code, "error_description": exc.description},
                status_code=exc.status,
                headers={**_NO_STORE, "WWW-Authenticate": challenge},
            )
        return JSONResponse(body, headers=_NO_STORE)

    async def metadata(_: Request) -> Response:
        return JSONResponse(
            oauth.metadata(), headers={"Cache-Control": f"public, max-age={_METADATA_MAX_AGE}"}
        )

    return [
        Route("/oauth2/token", token, methods=["POST"]),
        Route("/oauth2/introspect", introspect, methods=["POST"]),
        Route("/oauth2/revoke", revoke, methods=["POST"]),
        Route("/oauth2/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/.well-known/openid-configuration", metadata),
        Route("/.well-known/oauth-authorization-server", metadata),
    ]
