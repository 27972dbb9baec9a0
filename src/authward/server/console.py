"""What every console and self-service page shares (decision 051): who is looking, CSRF-checked
forms, paging, and rendering in the one layout.

Signed out is a 303 to ``/login?return_to=``. An admin is a signed-in user whose username is in
``AUTHWARD_DASHBOARD_USERS`` (the users who could already open the jobs dashboard, decision
017); anyone else gets 403 on an admin page. Every form carries the login pages' CSRF token
(signed double submit, decision 013), and every action passes the admin's user id to the service
as ``actor``, so it is in the audit log.
"""

from __future__ import annotations

__all__ = [
    "NOTICES",
    "PAGE_SIZE",
    "Action",
    "Gate",
    "Paging",
    "Viewer",
    "consent_rows",
    "done",
    "when",
]

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authward.identity.sessions import SessionInfo
from authward.oauth.upstream_values import safe_return_to
from authward.principal import Principal
from authward.server.browser_flow import BrowserFlow
from authward.server.console_ports import ConsoleServices
from authward.server.forms import FormError, read_form
from authward.server.pages import Nav, no_store_redirect

#: Rows one list page shows.
PAGE_SIZE = 50
_MAX_PAGE = 10_000
_MAX_KEY = 400
T = TypeVar("T")
#: What a console or self-service form does, once :meth:`Gate.post` let the viewer post it.
Action = Callable[[Request, "Viewer", dict[str, str]], Awaitable[Response]]


def when(at: datetime | None) -> str:
    if at is None:
        return "–"
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M}Z"


@dataclass(frozen=True, slots=True)
class Viewer:
    session: SessionInfo
    username: str
    admin: bool

    @property
    def user_id(self) -> str:
        return self.session.user_id

    def nav(self, section: str) -> Nav:
        return Nav(self.username, admin=self.admin, section=section)

    def principal(self) -> Principal:
        """Who the console acts as where a service wants a principal: the signed-in user."""
        return Principal(
            authenticator="authward",
            principal_type="user",
            principal_id=self.session.user_id,
            subject=self.session.user_id,
            attributes={"tokenType": "browser_session", "sessionId": self.session.id},
        )


@dataclass(frozen=True, slots=True)
class Paging:
    """Which page of a list a request asks for (``?page=``, from 1), and the links to the pages
    around it, keeping the request's other parameters."""

    number: int
    path: str
    params: tuple[tuple[str, str], ...]
    #: Where a list read by key starts (``?after=``): the key of the last row of the page before.
    after: str | None = None

    @classmethod
    def of(cls, request: Request) -> Paging:
        raw = request.query_params.get("page", "1")
        number = int(raw) if raw.isdigit() and 0 < int(raw) <= _MAX_PAGE else 1
        params = tuple(
            (k, v) for k, v in request.query_params.multi_items() if k not in ("page", "after")
        )
        after = request.query_params.get("after") or None
        return cls(number, request.url.path, params, after[:_MAX_KEY] if after else None)

    @property
    def offset(self) -> int:
        return (self.number - 1) * PAGE_SIZE

    @property
    def fetch(self) -> int:
        """One more than a page: whether a next page exists."""
        return PAGE_SIZE + 1

    def link(self, number: int) -> str:
        return f"{self.path}?{urlencode([*self.params, ('page', str(number))])}"

    def cut(self, rows: Sequence[T]) -> dict[str, Any]:
        """The page's rows (of up to :attr:`fetch` fetched) and its links."""
        return {
            "rows": list(rows[:PAGE_SIZE]),
            "previous": self.link(self.number - 1) if self.number > 1 else None,
            "next": self.link(self.number + 1) if len(rows) > PAGE_SIZE else None,
            "first": None,
            "number": self.number,
        }

    def keyed(self, rows: Sequence[T], key: Callable[[T], str]) -> dict[str, Any]:
        """A page of a list read by key from :attr:`after` (up to :attr:`fetch` rows): its
        rows, the link to the next one and back to the first."""
        page = list(rows[:PAGE_SIZE])
        following = [*self.params, ("after", key(page[-1]))] if len(rows) > PAGE_SIZE else None
        return {
            "rows": page,
            "first": f"{self.path}?{urlencode(self.params)}" if self.after else None,
            "next": f"{self.path}?{urlencode(following)}" if following else None,
            "previous": None,
            "number": None,
        }

    def slice(self, rows: Sequence[T]) -> dict[str, Any]:
        """A page of a list read whole."""
        return self.cut(rows[self.offset : self.offset + self.fetch])


class Gate:
    """``admins``: the usernames that may open admin pages."""

    def __init__(self, flow: BrowserFlow, admins: frozenset[str]) -> None:
        self.flow = flow
        self.look = flow.look
        self.admins = admins

    async def viewer(self, request: Request, *, admin: bool) -> Viewer | Response:
        signed_in = await self.flow.signed_in(request)
        if signed_in is None:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return no_store_redirect(
                "/login?" + urlencode({"return_to": safe_return_to(back) or "/"})
            )
        session, username = signed_in
        viewer = Viewer(session, username, username in self.admins)
        if admin and not viewer.admin:
            return self.look.message(
                "Not allowed",
                f"You are signed in as {username}, who is not an administrator. An "
                "administrator can add your username to AUTHWARD_DASHBOARD_USERS.",
                status=403,
                nav=viewer.nav(""),
            )
        return viewer

    async def form(
        self, request: Request, *, admin: bool
    ) -> tuple[Viewer, dict[str, str]] | Response:
        """The signed-in viewer and their posted form once its CSRF token checks out."""
        viewer = await self.viewer(request, admin=admin)
        if isinstance(viewer, Response):
            return viewer
        try:
            form = await read_form(request)
        except FormError as exc:
            return self.look.message("Invalid form", str(exc), nav=viewer.nav(""))
        if not self.flow.forms.csrf_ok(request, form):
            return self.look.message(
                "Form expired",
                "This form was not sent from this site or has expired. Reload the page and "
                "try again. Nothing was changed.",
                status=403,
                nav=viewer.nav(""),
            )
        return viewer, form

    def post(self, path: str, handler: Action, *, admin: bool) -> Route:
        """A form's POST route: ``handler`` runs for a signed-in viewer (an admin when ``admin``)
        whose form's CSRF token checks out; anyone else gets :meth:`form`'s answer."""

        async def endpoint(request: Request) -> Response:
            posted = await self.form(request, admin=admin)
            if isinstance(posted, Response):
                return posted
            viewer, form = posted
            return await handler(request, viewer, form)

        return Route(path, endpoint, methods=["POST"])

    def page(
        self,
        request: Request,
        template: str,
        *,
        title: str,
        viewer: Viewer,
        section: str,
        status: int = 200,
        **context: Any,
    ) -> Response:
        """A page whose forms carry a CSRF token bound to the browser's cookie."""
        csrf, cookie = self.flow.forms.csrf_token(request)
        notice = NOTICES.get(request.query_params.get("done", ""), "")
        response = self.look.page(
            template,
            title=title,
            status=status,
            nav=viewer.nav(section),
            csrf=csrf,
            notice=context.pop("notice", None) or notice,
            alert=context.pop("alert", ""),
            **context,
        )
        self.flow.forms.set_csrf_cookie(request, response, cookie)
        return response

    def missing(self, viewer: Viewer, what: str) -> Response:
        return self.look.message(
            "Not found", f"There is no such {what}.", status=404, nav=viewer.nav("")
        )


async def consent_rows(services: ConsoleServices, user_id: str) -> list[dict[str, str]]:
    """A user's consents, each with its client's name where the client is declared or
    registered here (else its id alone)."""
    names = {c.client_id: c.name for c in await services.clients.list()}
    for registered in await services.registered_clients.list():
        if registered.client_name:
            names[registered.client_id] = registered.client_name
    return [
        {
            "client_id": c.client_id,
            "name": names.get(c.client_id, ""),
            "scopes": " ".join(c.scopes),
            "at": when(c.updated_at),
        }
        for c in await services.consents.list(user_id)
    ]


def done(url: str, what: str) -> Response:
    """Back to ``url`` after an action, which the page then confirms (``what`` is a key of
    :data:`NOTICES`, so no text from the request is shown)."""
    return no_store_redirect(f"{url}{'&' if '?' in url else '?'}done={what}")


#: What a page says after an action.
NOTICES = {
    "user-created": "User created.",
    "user-disabled": "User disabled: signed out everywhere, their grants revoked.",
    "user-enabled": "User enabled.",
    "password-set": "Password changed.",
    "session-revoked": "Session revoked.",
    "sessions-revoked": "Signed out everywhere else.",
    "key-revoked": "API key revoked.",
    "consent-revoked": "Access revoked: the application's tokens no longer work.",
    "connection-removed": "Connection removed.",
    "org-created": "Organization created.",
    "member-added": "Member added.",
    "member-removed": "Member removed.",
    "client-revoked": "Registered client revoked.",
}
