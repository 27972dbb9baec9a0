"""The console's other resources (decision 051).

GET  /console/clients                          declared OAuth clients, machine users,
                                               registered clients
POST /console/clients/registered/revoke        (client_id)
POST /console/clients/{name}/secret  POST /console/machine-users/{name}/secret   rotate
GET  /console/api-keys  POST /console/api-keys  POST /console/api-keys/{id}/revoke
GET  /console/organizations  POST /console/organizations
GET  /console/organizations/{org}  POST .../members  POST .../members/remove
GET  /console/sessions  POST /console/sessions/{id}/revoke
GET  /console/connections  POST /console/connections/revoke (account_id, provider)
"""

from __future__ import annotations

__all__ = ["resource_routes"]

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authward.errors import AuthwardError
from authward.identity.api_keys import ApiKeyInfo
from authward.oauth.upstream_values import safe_return_to
from authward.server.console import Gate, Paging, Viewer, done, when
from authward.server.console_ports import ConsoleServices

_MAX_QUERY = 200


def _q(request: Request, name: str = "q") -> str:
    return request.query_params.get(name, "").strip()[:_MAX_QUERY]


def key_row(k: ApiKeyInfo, owners: dict[str, str]) -> dict[str, Any]:
    owner = owners.get(k.user_id or "", k.user_id) if k.user_id else f"org {k.org_id}"
    return {
        "id": str(k.id),
        "name": k.name,
        "hint": k.hint,
        "owner": owner,
        "scopes": " ".join(k.scopes) or "–",
        "status": k.status(),
        "created": when(k.created_at),
        "last": when(k.last_used_at),
        "expires": when(k.expires_at),
    }


class ResourcePages:
    def __init__(self, gate: Gate, services: ConsoleServices) -> None:
        self.gate = gate
        self.s = services

    async def _names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """The usernames of the users a page shows (at most a page of them)."""
        names = {}
        for user_id in set(user_ids):
            user = await self.s.users.get(user_id)
            if user is not None:
                names[user_id] = user.username
        return names

    # -- clients and machine users -----------------------------------------------------------

    async def clients(
        self, request: Request, *, secret: str = "", rotated: str = "", client_id: str = ""
    ) -> Response:
        viewer = await self.gate.viewer(request, admin=True)
        if isinstance(viewer, Response):
            return viewer
        return self.gate.page(
            request,
            "console_clients.html",
            title="Clients",
            viewer=viewer,
            section="clients",
            declared=await self.s.clients.list(),
            machines=await self.s.machine_users.list(),
            registered=list(await self.s.registered_clients.list()),
            when=when,
            secret=secret,
            rotated=rotated,
            rotated_client_id=client_id,
        )

    async def rotate_secret(self, request: Request, viewer: Viewer, _: dict[str, str]) -> Response:
        """A new secret for a declared client or machine user, shown once on the page this
        answers with (never in a URL, never stored in clear); audited as the API's rotation."""
        name = request.path_params["name"]
        if request.url.path.startswith("/console/machine-users/"):
            rotated = await self.s.secret_rotation.rotate_machine_user(name, actor=viewer.user_id)
            what = "machine user"
        else:
            rotated = await self.s.secret_rotation.rotate_client(name, actor=viewer.user_id)
            what = "OAuth client"
        if rotated is None:
            return self.gate.missing(viewer, what)
        return await self.clients(
            request, secret=rotated.client_secret, rotated=name, client_id=rotated.client_id
        )

    async def revoke_registered(
        self, request: Request, viewer: Viewer, form: dict[str, str]
    ) -> Response:
        if not await self.s.registered_clients.revoke(
            form.get("client_id", ""), actor=viewer.user_id
        ):
            return self.gate.missing(viewer, "registered client")
        return done("/console/clients", "client-revoked")

    # -- API keys ------------------------------------------------------------------------------

    async def api_keys(
        self, request: Request, *, alert: str = "", secret: str = "", status: int = 200
    ) -> Response:
        viewer = await self.gate.viewer(request, admin=True)
        if isinstance(viewer, Response):
            return viewer
        query = _q(request).lower()
        keys = list(reversed(await self.s.api_keys.list(include_revoked=True)))
        if query:
            owner = await self.s.users.find(_q(request))
            keys = [
                k
                for k in keys
                if query in f"{k.name} {k.id}".lower() or (owner and k.user_id == owner.id)
            ]
        page = Paging.of(request).slice(keys)
        owners = await self._names(k.user_id for k in page["rows"] if k.user_id)
        page["rows"] = [key_row(k, owners) for k in page["rows"]]
        return self.gate.page(
            request,
            "console_api_keys.html",
            title="API keys",
            viewer=viewer,
            section="api-keys",
            status=status,
            alert=alert,
            secret=secret,
            q=_q(request),
            page=page,
        )

    async def create_key(self, request: Request, viewer: Viewer, form: dict[str, str]) -> Response:
        owner = form.get("owner", "").strip()
        user = None
        if not owner.startswith("org:"):
            user = await self.s.users.find(owner)
            if user is None:
                return await self.api_keys(
                    request, alert=f"No user is named {owner!r}. No key was created.", status=400
                )
        try:
            secret, _ = await self.s.api_keys.create(
                form.get("name", ""),
                user_id=user.id if user else None,
                org_id=owner[4:] if user is None else None,
                scopes=form.get("scopes", "").split(),
                actor=viewer.user_id,
            )
        except (AuthwardError, ValueError) as exc:
            return await self.api_keys(request, alert=f"No key was created: {exc}", status=400)
        # Shown once, on this answer only (no-store): it is never stored.
        return await self.api_keys(request, secret=secret)

    async def revoke_key(self, request: Request, viewer: Viewer, form: dict[str, str]) -> Response:
        key = await self.s.api_keys.get(str(request.path_params["key_id"]))
        if key is None:
            return self.gate.missing(viewer, "API key")
        await self.s.api_keys.revoke(key.id, actor=viewer.user_id)
        return done(safe_return_to(form.get("back", "")) or "/console/api-keys", "key-revoked")

    # -- organizations -------------------------------------------------------------------------

    async def organizations(
        self, request: Request, *, alert: str = "", status: int = 200
    ) -> Response:
        viewer = await self.gate.viewer(request, admin=True)
        if isinstance(viewer, Response):
            return viewer
        query = _q(request).lower()
        orgs = [
            o
            for o in await self.s.organizations.list()
            if not query or query in f"{o.slug} {o.name}".lower()
        ]
        return self.gate.page(
            request,
            "console_orgs.html",
            title="Organizations",
            viewer=viewer,
            section="organizations",
            status=status,
            alert=alert,
            q=_q(request),
            page=Paging.of(request).slice(orgs),
            when=when,
        )

    async def create_org(self, request: Request, viewer: Viewer, form: dict[str, str]) -> Response:
        try:
            org = await self.s.organizations.create(
                form.get("slug", "").strip(), form.get("name", "").strip(), actor=viewer.user_id
            )
        except (AuthwardError, ValueError) as exc:
            return await self.organizations(
                request, alert=f"The organization was not created: {exc}", status=400
            )
        return done(f"/console/organizations/{quote(org.slug)}", "org-created")

    async def organization(
        self, request: Request, *, alert: str = "", status: int = 200
    ) -> Response:
        viewer = await self.gate.viewer(request, admin=True)
        if isinstance(viewer, Response):
            return viewer
        org = await self.s.organizations.get(str(request.path_params["org"]))
        if org is None:
            return self.gate.missing(viewer, "organization")
        members = await self.s.organizations.members(org.id)
        names = await self._names(m.user_id for m in members)
        return self.gate.page(
            request,
            "console_org.html",
            title=org.name,
            viewer=viewer,
            section="organizations",
            status=status,
            alert=alert,
            org=org,
            members=[{"m": m, "username": names.get(m.user_id, m.user_id)} for m in members],
            roles=sorted(self.s.organizations.roles),
            when=when,
        )

    async def add_member(self, request: Request, viewer: Viewer, form: dict[str, str]) -> Response:
        org = str(request.path_params["org"])
        username = form.get("username", "").strip()
        found = await self.s.users.find(username)
        if found is None:
            return await self.organization(
                request, alert=f"No user is named {username!r}.", status=400
            )
        try:
            await self.s.organizations.add_member(
                org, found.id, form.get("role", ""), actor=viewer.user_id
            )
        except (AuthwardError, ValueError) as exc:
            return await self.organization(
                request, alert=f"The member was not added: {exc}", status=400
            )
        return done(f"/console/organizations/{quote(org)}", "member-added")

    async def remove_member(
        self, request: Request, viewer: Viewer, form: dict[str, str]
    ) -> Response:
        org = str(request.path_params["org"])
        try:
            removed = await self.s.organizations.remove_member(
                org, form.get("user_id", ""), actor=viewer.user_id
            )
        except AuthwardError:
            removed = False
        if not removed:
            return self.gate.missing(viewer, "member")
        return done(f"/console/organizations/{quote(org)}", "member-removed")

    # -- sessions and connections ----------------------------------------------------------------

    async def sessions(self, request: Request) -> Response:
        viewer = await self.gate.viewer(request, admin=True)
        if isinstance(viewer, Response):
            return viewer
        paging = Paging.of(request)
        found = await self.s.sessions.active(offset=paging.offset, limit=paging.fetch)
        names = await self._names(x.user_id for x in found)
        rows = [
            {
                "id": x.id,
                "user_id": x.user_id,
                "username": names.get(x.user_id, x.user_id),
                "created": when(x.created_at),
                "last": when(x.last_active_at),
                "ip": x.ip or "–",
                "agent": x.user_agent or "–",
                "mine": x.id == viewer.session.id,
            }
            for x in found
        ]
        return self.gate.page(
            request,
            "console_sessions.html",
            title="Sessions",
            viewer=viewer,
            section="sessions",
            page=paging.cut(rows),
        )

    async def revoke_session(self, request: Request, viewer: Viewer, _: dict[str, str]) -> Response:
        if not await self.s.sessions.revoke(
            str(request.path_params["session_id"]), actor=viewer.user_id
        ):
            return self.gate.missing(viewer, "active session")
        return done("/console/sessions", "session-revoked")

    async def connections(self, request: Request) -> Response:
        viewer = await self.gate.viewer(request, admin=True)
        if isinstance(viewer, Response):
            return viewer
        query = _q(request).lower()
        found = [c for c in await self.s.connections.list() if c.kind == "account"]
        if query:
            owner = await self.s.users.find(_q(request))
            found = [
                c
                for c in found
                if query in f"{c.provider} {c.label or ''} {c.external_id or ''}".lower()
                or (owner and c.account_id == owner.id)
            ]
        page = Paging.of(request).slice(found)
        names = await self._names(c.account_id for c in page["rows"])
        page["rows"] = [
            {"c": c, "owner": names.get(c.account_id, c.account_id)} for c in page["rows"]
        ]
        return self.gate.page(
            request,
            "console_connections.html",
            title="Connected accounts",
            viewer=viewer,
            section="connections",
            q=_q(request),
            page=page,
        )

    async def revoke_connection(
        self, request: Request, viewer: Viewer, form: dict[str, str]
    ) -> Response:
        if not await self.s.connections.disconnect(
            form.get("account_id", ""), form.get("provider", ""), actor=viewer.user_id
        ):
            return self.gate.missing(viewer, "connection")
        return done("/console/connections", "connection-removed")


def resource_routes(gate: Gate, services: ConsoleServices) -> list[BaseRoute]:
    p = ResourcePages(gate, services)
    org = "/console/organizations/{org}"
    return [
        Route("/console/clients", p.clients, methods=["GET"]),
        gate.post("/console/clients/registered/revoke", p.revoke_registered, admin=True),
        gate.post("/console/clients/{name}/secret", p.rotate_secret, admin=True),
        gate.post("/console/machine-users/{name}/secret", p.rotate_secret, admin=True),
        Route("/console/api-keys", p.api_keys, methods=["GET"]),
        gate.post("/console/api-keys", p.create_key, admin=True),
        gate.post("/console/api-keys/{key_id}/revoke", p.revoke_key, admin=True),
        Route("/console/organizations", p.organizations, methods=["GET"]),
        gate.post("/console/organizations", p.create_org, admin=True),
        Route(org, p.organization, methods=["GET"]),
        gate.post(f"{org}/members", p.add_member, admin=True),
        gate.post(f"{org}/members/remove", p.remove_member, admin=True),
        Route("/console/sessions", p.sessions, methods=["GET"]),
        gate.post("/console/sessions/{session_id}/revoke", p.revoke_session, admin=True),
        Route("/console/connections", p.connections, methods=["GET"]),
        gate.post("/console/connections/revoke", p.revoke_connection, admin=True),
    ]
