"""The session-token mint endpoint (docs/organizations-and-sessions.md): browsers exchange their
session secret here for a fresh short-lived session token every minute."""

from __future__ import annotations

__all__ = ["SessionMinting", "session_routes"]

import json
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from authward.errors import TokenError
from authward.identity.orgs import OrganizationError
from authward.identity.session_types import SECRET_COOKIE, SESSION_COOKIE, MintedToken, SessionInfo


class SessionMinting(Protocol):
    """What the endpoint needs of :class:`authward.identity.sessions.Sessions`."""

    token_lifetime_seconds: int

    async def session_of(self, secret: str) -> SessionInfo: ...
    async def set_active_org(
        self, session_id: str, org_id: str | None, *, actor: str | None = None
    ) -> SessionInfo: ...
    async def mint(self, secret: str) -> MintedToken: ...


_MAX_BODY = 8192
_NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, error: str, message: str, reason: str | None = None) -> JSONResponse:
    body = {"error": error, "message": message}
    if reason is not None:
        body["reason"] = reason
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


def session_routes(sessions: SessionMinting, *, prefix: str = "/v1/sessions") -> list[BaseRoute]:
    """``POST {prefix}/token``: exchange the session secret (the ``__session_secret`` cookie,
    or ``{"session_secret": ...}`` in a JSON body) for a fresh session token. The answer is
    ``{"token", "expires_at", "session_id", "org_id"}`` and sets the ``__session`` cookie to the
    token (HttpOnly, SameSite=Lax, Secure over https). An optional ``"active_org_id"`` in the
    body first switches the session's active organization (the user must be a member).

    Refusals: 400 ``invalid_request``, 401 ``invalid_session`` (with ``reason``; both cookies are
    cleared), 403 ``not_a_member``."""

    async def mint_endpoint(request: Request) -> JSONResponse:
        body: dict[str, Any] = {}
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            return _error(400, "invalid_request", "request body is too large")
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                return _error(400, "invalid_request", "the body must be a JSON object")
            if not isinstance(parsed, dict):
                return _error(400, "invalid_request", "the body must be a JSON object")
            body = parsed
        secret = body.get("session_secret", request.cookies.get(SECRET_COOKIE))
        if not isinstance(secret, str) or not secret:
            return _error(
                400,
                "invalid_request",
                f"no session secret: send the {SECRET_COOKIE} cookie or a session_secret",
            )
        org = body.get("active_org_id")
        if org is not None and not isinstance(org, str):
            return _error(400, "invalid_request", "active_org_id must be a string")
        try:
            if "active_org_id" in body:
                current = await sessions.session_of(secret)
                await sessions.set_active_org(current.id, org, actor=current.user_id)
            minted = await sessions.mint(secret)
        except TokenError as exc:
            response = _error(401, "invalid_session", str(exc), exc.reason)
            response.delete_cookie(SESSION_COOKIE, path="/")
            response.delete_cookie(SECRET_COOKIE, path="/")
            return response
        except OrganizationError as exc:
            return _error(403, "not_a_member", str(exc))
        response = JSONResponse(
            {
                "token": minted.token,
                "expires_at": minted.expires_at,
                "session_id": minted.session_id,
                "org_id": minted.org_id,
            },
            headers=_NO_STORE,
        )
        response.set_cookie(
            SESSION_COOKIE,
            minted.token,
            max_age=sessions.token_lifetime_seconds,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
        return response

    return [Route(f"{prefix}/token", mint_endpoint, methods=["POST"])]
