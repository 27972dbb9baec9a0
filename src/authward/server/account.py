"""The self-service page of a signed-in user, ``/`` and the assembled console routes
(decision 051).

    GET  /                                   signed out: to sign-in; an admin: the console;
                                             anyone else: /account
    GET  /account                            my sessions, consents, connected accounts, API keys
    POST /account/sessions/others/revoke     sign out everywhere else
    POST /account/sessions/{id}/revoke
    POST /account/consents/revoke            (client_id)
    POST /account/connections/revoke         (provider)
    POST /account/api-keys/{id}/revoke
"""

from __future__ import annotations

__all__ = ["console_routes"]

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authward.server.browser_flow import BrowserFlow
from authward.server.console import Gate, Viewer, consent_rows, done, when
from authward.server.console_audit import audit_routes
from authward.server.console_pages import key_row, resource_routes
from authward.server.console_ports import ConsoleServices
from authward.server.console_users import user_routes
from authward.server.pages import no_store_redirect


class AccountPage:
    def __init__(self, gate: Gate, services: ConsoleServices) -> None:
        self.gate = gate
        self.s = services

    async def home(self, request: Request) -> Response:
        viewer = await self.gate.viewer(request, admin=False)
        if isinstance(viewer, Response):
            return viewer
        return no_store_redirect("/console/users" if viewer.admin else "/account")

    async def page(self, request: Request) -> Response:
        viewer = await self.gate.viewer(request, admin=False)
        if isinstance(viewer, Response):
            return viewer
        me = viewer.user_id
        sessions = [
            {
                "id": x.id,
                "created": when(x.created_at),
                "last": when(x.last_active_at),
                "ip": x.ip or "–",
                "agent": x.user_agent or "–",
                "current": x.id == viewer.session.id,
            }
            for x in await self.s.sessions.list(me)
        ]
        keys = await self.s.api_keys.list(user_id=me)
        return self.gate.page(
            request,
            "account.html",
            title="My account",
            viewer=viewer,
            section="account",
            sessions=sessions,
            consents=await consent_rows(self.s, me),
            connections=[c for c in await self.s.connections.list(me) if c.kind == "account"],
            keys=[key_row(k, {me: viewer.username}) for k in keys],
        )

    async def revoke_others(self, request: Request, viewer: Viewer, _: dict[str, str]) -> Response:
        await self.s.sessions.revoke_all(
            viewer.user_id, except_session=viewer.session.id, actor=viewer.user_id
        )
        return done("/account", "sessions-revoked")

    async def revoke_session(self, request: Request, viewer: Viewer, _: dict[str, str]) -> Response:
        session = await self.s.sessions.get(str(request.path_params["session_id"]))
        # Another user's session is "not found", as if it did not exist.
        if session is None or session.user_id != viewer.user_id:
            return self.gate.missing(viewer, "session")
        await self.s.sessions.revoke(session.id, actor=viewer.user_id)
        if session.id == viewer.session.id:
            return no_store_redirect("/login")
        return done("/account", "session-revoked")

    async def revoke_consent(
        self, request: Request, viewer: Viewer, form: dict[str, str]
    ) -> Response:
        if not await self.s.consents.revoke(
            viewer.user_id, form.get("client_id", ""), actor=viewer.user_id
        ):
            return self.gate.missing(viewer, "consent")
        return done("/account", "consent-revoked")

    async def revoke_connection(
        self, request: Request, viewer: Viewer, form: dict[str, str]
    ) -> Response:
        if not await self.s.connections.disconnect(
            viewer.user_id, form.get("provider", ""), actor=viewer.user_id
        ):
            return self.gate.missing(viewer, "connection")
        return done("/account", "connection-removed")

    async def revoke_key(self, request: Request, viewer: Viewer, _: dict[str, str]) -> Response:
        key = await self.s.api_keys.get(str(request.path_params["key_id"]))
        if key is None or key.user_id != viewer.user_id:
            return self.gate.missing(viewer, "API key")
        await self.s.api_keys.revoke(key.id, actor=viewer.user_id)
        return done("/account", "key-revoked")


def console_routes(
    flow: BrowserFlow, services: ConsoleServices, *, home: bool = True
) -> list[BaseRoute]:
    """The admin console, the self-service page and (``home``) ``/``."""
    gate = Gate(flow, services.admins)
    account = AccountPage(gate, services)

    async def console(_: Request) -> Response:
        return no_store_redirect("/console/users")

    return [
        *([Route("/", account.home, methods=["GET"])] if home else []),
        Route("/account", account.page, methods=["GET"]),
        gate.post("/account/sessions/others/revoke", account.revoke_others, admin=False),
        gate.post("/account/sessions/{session_id}/revoke", account.revoke_session, admin=False),
        gate.post("/account/consents/revoke", account.revoke_consent, admin=False),
        gate.post("/account/connections/revoke", account.revoke_connection, admin=False),
        gate.post("/account/api-keys/{key_id}/revoke", account.revoke_key, admin=False),
        Route("/console", console, methods=["GET"]),
        *user_routes(gate, services),
        *resource_routes(gate, services),
        *audit_routes(gate, services.audit),
    ]
