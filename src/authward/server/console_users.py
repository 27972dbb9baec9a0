"""The console's users pages (decision 051).

GET  /console/users                     search (?q=) and page (?page=) the users
POST /console/users                     create one (username, password)
GET  /console/users/{id}                a user: sessions, connections, API keys, consents
POST /console/users/{id}/disable|enable
POST /console/users/{id}/password       reset the password
POST /console/users/{id}/sessions/{session_id}/revoke
POST /console/users/{id}/consents/revoke (client_id)
POST /console/users/{id}/connections/revoke (provider)
"""

from __future__ import annotations

__all__ = ["user_routes"]

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authward.errors import AuthwardError
from authward.server.console import Action, Gate, Paging, Viewer, consent_rows, done, when
from authward.server.console_ports import ConsoleServices
from authward.users import UserAccount

#: An action on one user (:meth:`UserPages.on_user`).
UserAction = Callable[[Request, Viewer, UserAccount, dict[str, str]], Awaitable[Response]]

_MAX_QUERY = 200


class UserPages:
    def __init__(self, gate: Gate, services: ConsoleServices) -> None:
        self.gate = gate
        self.s = services

    async def list(self, request: Request, *, alert: str = "", status: int = 200) -> Response:
        viewer = await self.gate.viewer(request, admin=True)
        if isinstance(viewer, Response):
            return viewer
        query = request.query_params.get("q", "").strip()[:_MAX_QUERY]
        paging = Paging.of(request)
        found = await self.s.users.page(
            after=paging.after, limit=paging.fetch, contains=query or None
        )
        return self.gate.page(
            request,
            "console_users.html",
            title="Users",
            viewer=viewer,
            section="users",
            status=status,
            alert=alert,
            q=query,
            page=paging.keyed([_user_row(u) for u in found], lambda u: u["username"]),
        )

    async def create(self, request: Request, viewer: Viewer, form: dict[str, str]) -> Response:
        username = form.get("username", "").strip()
        try:
            user = await self.s.users.create(
                username, form.get("password", ""), actor=viewer.principal()
            )
        except (AuthwardError, ValueError) as exc:
            return await self.list(request, alert=f"The user was not created: {exc}", status=400)
        return done(f"/console/users/{quote(user.id)}", "user-created")

    async def _user(self, request: Request, viewer: Viewer) -> UserAccount | Response:
        user = await self.s.users.get(str(request.path_params["user_id"]))
        return user if user is not None else self.gate.missing(viewer, "user")

    async def show(self, request: Request, *, alert: str = "", status: int = 200) -> Response:
        viewer = await self.gate.viewer(request, admin=True)
        if isinstance(viewer, Response):
            return viewer
        user = await self._user(request, viewer)
        if isinstance(user, Response):
            return user
        sessions = await self.s.sessions.list(user.id)
        keys = await self.s.api_keys.list(user_id=user.id, include_revoked=True)
        return self.gate.page(
            request,
            "console_user.html",
            title=user.username,
            viewer=viewer,
            section="users",
            status=status,
            alert=alert,
            user=_user_row(user),
            sessions=[
                {
                    "id": x.id,
                    "created": when(x.created_at),
                    "last": when(x.last_active_at),
                    "ip": x.ip or "–",
                    "agent": x.user_agent or "–",
                }
                for x in sessions
            ],
            connections=await self.s.connections.list(user.id),
            keys=[
                {
                    "id": str(k.id),
                    "name": k.name,
                    "hint": k.hint,
                    "status": k.status(),
                    "last": when(k.last_used_at),
                    "created": when(k.created_at),
                }
                for k in keys
            ],
            consents=await consent_rows(self.s, user.id),
            memberships=await self.s.organizations.memberships_of(user.id),
        )

    def on_user(self, handler: UserAction) -> Action:
        """An action on the user the path names (404 when there is none)."""

        async def act(request: Request, viewer: Viewer, form: dict[str, str]) -> Response:
            user = await self._user(request, viewer)
            if isinstance(user, Response):
                return user
            return await handler(request, viewer, user, form)

        return act

    async def disable(
        self, request: Request, viewer: Viewer, user: UserAccount, _: dict[str, str]
    ) -> Response:
        await self.s.users.disable(user.username, actor=viewer.user_id)
        return done(f"/console/users/{quote(user.id)}", "user-disabled")

    async def enable(
        self, request: Request, viewer: Viewer, user: UserAccount, _: dict[str, str]
    ) -> Response:
        await self.s.users.enable(user.username, actor=viewer.user_id)
        return done(f"/console/users/{quote(user.id)}", "user-enabled")

    async def password(
        self, request: Request, viewer: Viewer, user: UserAccount, form: dict[str, str]
    ) -> Response:
        try:
            await self.s.users.set_password(
                user.username, form.get("password", ""), actor=viewer.user_id
            )
        except (AuthwardError, ValueError) as exc:
            return await self.show(
                request, alert=f"The password was not changed: {exc}", status=400
            )
        return done(f"/console/users/{quote(user.id)}", "password-set")

    async def revoke_session(
        self, request: Request, viewer: Viewer, user: UserAccount, _: dict[str, str]
    ) -> Response:
        session = await self.s.sessions.get(str(request.path_params["session_id"]))
        if session is None or session.user_id != user.id:
            return self.gate.missing(viewer, "session")
        await self.s.sessions.revoke(session.id, actor=viewer.user_id)
        return done(f"/console/users/{quote(user.id)}", "session-revoked")

    async def revoke_consent(
        self, request: Request, viewer: Viewer, user: UserAccount, form: dict[str, str]
    ) -> Response:
        if not await self.s.consents.revoke(
            user.id, form.get("client_id", ""), actor=viewer.user_id
        ):
            return self.gate.missing(viewer, "consent")
        return done(f"/console/users/{quote(user.id)}", "consent-revoked")

    async def revoke_connection(
        self, request: Request, viewer: Viewer, user: UserAccount, form: dict[str, str]
    ) -> Response:
        if not await self.s.connections.disconnect(
            user.id, form.get("provider", ""), actor=viewer.user_id
        ):
            return self.gate.missing(viewer, "connection")
        return done(f"/console/users/{quote(user.id)}", "connection-removed")


def _user_row(user: UserAccount) -> dict[str, str]:
    return {
        "id": user.id,
        "username": user.username,
        "status": "disabled" if user.disabled else "active",
        "created": when(user.created_at),
    }


def user_routes(gate: Gate, services: ConsoleServices) -> list[BaseRoute]:
    pages = UserPages(gate, services)
    base = "/console/users/{user_id}"
    return [
        Route("/console/users", pages.list, methods=["GET"]),
        gate.post("/console/users", pages.create, admin=True),
        Route(base, pages.show, methods=["GET"]),
        gate.post(f"{base}/disable", pages.on_user(pages.disable), admin=True),
        gate.post(f"{base}/enable", pages.on_user(pages.enable), admin=True),
        gate.post(f"{base}/password", pages.on_user(pages.password), admin=True),
        gate.post(
            f"{base}/sessions/{{session_id}}/revoke",
            pages.on_user(pages.revoke_session),
            admin=True,
        ),
        gate.post(f"{base}/consents/revoke", pages.on_user(pages.revoke_consent), admin=True),
        gate.post(f"{base}/connections/revoke", pages.on_user(pages.revoke_connection), admin=True),
    ]
