"""A browser's signed-in state at authward: a session (``authward.identity.sessions``) whose
secret is in the ``__session_secret`` cookie (HttpOnly, SameSite=Lax).

External-IdP login ends in :func:`start_browser_session`; password login starts its session in
``Users.sign_in`` and hands the secret to :func:`set_session_cookie`. The
authorization endpoint reads :func:`browser_session` (its ``created_at`` is the OIDC
``auth_time``); end-session calls :func:`end_browser_session`.
"""

from __future__ import annotations

__all__ = [
    "BrowserSessions",
    "browser_session",
    "end_browser_session",
    "set_session_cookie",
    "start_browser_session",
]

from collections.abc import Mapping
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from authward.errors import TokenError
from authward.identity.sessions import SECRET_COOKIE, SESSION_COOKIE, SessionInfo


class BrowserSessions(Protocol):
    """What a browser's sign-in calls of :class:`authward.identity.sessions.Sessions`."""

    async def create(
        self,
        user_id: str,
        *,
        claims: Mapping[str, Any] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        actor: str | None = None,
    ) -> tuple[str, SessionInfo]: ...
    async def session_of(self, secret: str) -> SessionInfo: ...
    async def revoke(self, session_id: str, *, actor: str | None = None) -> bool: ...


async def start_browser_session(
    sessions: BrowserSessions, request: Request, response: Response, user_id: str, *, amr: str
) -> SessionInfo:
    """Sign ``user_id`` in on this browser; ``amr`` says how (``pwd``, ``external:<name>``)."""
    secret, info = await sessions.create(
        user_id,
        claims={"amr": [amr]},
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        actor=user_id,
    )
    set_session_cookie(request, response, secret)
    return info


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    """Give the browser its session secret (HttpOnly, SameSite=Lax)."""
    response.set_cookie(
        SECRET_COOKIE,
        secret,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


async def browser_session(sessions: BrowserSessions, request: Request) -> SessionInfo | None:
    """The browser's active session, or ``None`` (no cookie, unknown, expired or revoked)."""
    secret = request.cookies.get(SECRET_COOKIE)
    if not secret:
        return None
    try:
        info = await sessions.session_of(secret)
    except TokenError:
        return None
    return info if info.status() == "active" else None


async def end_browser_session(
    sessions: BrowserSessions, request: Request, response: Response
) -> str | None:
    """Sign the browser out: revoke its session and clear both cookies. Returns the user id."""
    info = await browser_session(sessions, request)
    if info is not None:
        await sessions.revoke(info.id, actor=info.user_id)
    response.delete_cookie(SECRET_COOKIE, path="/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return info.user_id if info else None
