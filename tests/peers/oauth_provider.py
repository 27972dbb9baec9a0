"""A small OAuth 2.0 provider (RFC 6749 §4.1, §6; RFC 7636; RFC 7009) for the vault's tests.

    provider = OAuthProvider(client_id="acme-client", client_secret="...")
    async with serve_asgi(provider.app) as base_url:   # /authorize, /token, /revoke
        ...
    provider.token_hits["refresh_token"]               # what reached the token endpoint

The authorize endpoint approves at once (no login page: the account connecting is whoever the
test says) and redirects back with a single-use code. The token endpoint redeems codes (PKCE S256
checked when a challenge was sent, required with ``require_pkce``) and refresh tokens, rotating
them; ``reject_refresh`` answers ``invalid_grant`` to every refresh, ``refresh_delay`` slows a
refresh down so concurrent callers really overlap. Every token it mints is registered with the
secret scan, so a test run fails if one reaches a log.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.secret_scan import SCAN


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode()))


@dataclass
class _Code:
    redirect_uri: str
    challenge: str | None
    scope: str


@dataclass
class OAuthProvider:
    client_id: str
    client_secret: str
    access_lifetime: int = 3600
    require_pkce: bool = False
    rotate_refresh_tokens: bool = True
    reject_refresh: bool = False
    refresh_delay: float = 0.0
    #: The external user id the provider reports for the account that connects.
    user_id: str = "U-PEER-1"
    token_hits: Counter[str] = field(default_factory=Counter)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    access_tokens: list[str] = field(default_factory=list)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _refresh: dict[str, str] = field(default_factory=dict)

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self.authorize, methods=["GET"]),
                Route("/token", self.token, methods=["POST"]),
                Route("/revoke", self.revoke, methods=["POST"]),
                Route("/.well-known/openid-configuration", self.discovery, methods=["GET"]),
            ]
        )

    # -- minting ----------------------------------------------------------------------------------

    def issue(self, scope: str = "read write") -> dict[str, object]:
        """A token response as the token endpoint sends it (also for tests that store directly)."""
        access = "pat_" + secrets.token_urlsafe(24)
        refresh = "prt_" + secrets.token_urlsafe(24)
        SCAN.secret(access, "provider access token")
        SCAN.secret(refresh, "provider refresh token")
        self.access_tokens.append(access)
        self._refresh[refresh] = scope
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_lifetime,
            "refresh_token": refresh,
            "scope": scope,
            "user_id": self.user_id,
        }

    def live_refresh_tokens(self) -> list[str]:
        return list(self._refresh)

    # -- endpoints --------------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.authorize_requests.append(q)
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        redirect = q["redirect_uri"]
        if q.get("deny"):
            target = {"error": "access_denied", "state": q.get("state", "")}
            return RedirectResponse(f"{redirect}?{urlencode(target)}", status_code=302)
        challenge = q.get("code_challenge")
        if challenge is not None and q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if challenge is None and self.require_pkce:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = "pcode_" + secrets.token_urlsafe(24)
        SCAN.secret(code, "provider authorization code")
        self._codes[code] = _Code(redirect, challenge, q.get("scope", ""))
        target = {"code": code, "state": q.get("state", "")}
        return RedirectResponse(f"{redirect}?{urlencode(target)}", status_code=302)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            raw = base64.b64decode(header[6:]).decode()
            client_id, _, secret = raw.partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return client_id == self.client_id and hmac.compare_digest(
            secret.encode(), self.client_secret.encode()
        )

    async def token(self, request: Request) -> Response:
        form = await _form(request)
        grant = form.get("grant_type", "")
        self.token_hits[grant] += 1
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if grant == "authorization_code":
            code = self._codes.pop(form.get("code", ""), None)
            if code is None or code.redirect_uri != form.get("redirect_uri"):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if code.challenge is not None:
                verifier = form.get("code_verifier", "")
                digest = hashlib.sha256(verifier.encode()).digest()
                expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if not hmac.compare_digest(expected, code.challenge):
                    return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(self.issue(code.scope), headers={"Cache-Control": "no-store"})
        if grant == "refresh_token":
            if self.refresh_delay:
                await asyncio.sleep(self.refresh_delay)
            presented = form.get("refresh_token", "")
            scope = self._refresh.get(presented)
            if self.reject_refresh or scope is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            body = self.issue(scope)
            del self._refresh[str(body["refresh_token"])]
            if self.rotate_refresh_tokens:
                del self._refresh[presented]
            else:
                body.pop("refresh_token")
            return JSONResponse(body, headers={"Cache-Control": "no-store"})
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    async def discovery(self, request: Request) -> Response:
        """Enough of OpenID Connect Discovery for a client that reads the endpoints from it."""
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "revocation_endpoint": f"{base}/revoke",
            }
        )

    async def revoke(self, request: Request) -> Response:
        form = await _form(request)
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = form.get("token", "")
        self.revoked.append(token)
        self._refresh.pop(token, None)
        return Response(status_code=200)
