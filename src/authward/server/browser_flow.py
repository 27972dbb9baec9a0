"""What the login, consent and end-session pages share: the sessions, users and audit log they
call, the form signer, a cached view of the registered clients, and how a browser's signed-in
user is looked up."""

from __future__ import annotations

__all__ = [
    "AuditRecorder",
    "BrowserClient",
    "BrowserFlow",
    "BrowserUsers",
    "ClientDirectory",
    "ClientFallback",
    "ClientView",
    "client_ip",
]

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from authward.config.clients import OAuth2Client
from authward.identity.sessions import SessionInfo
from authward.server.browser import BrowserSessions, browser_session
from authward.server.forms import FormError, FormSigner, read_form
from authward.server.pages import Look
from authward.store.audit import AuditEvent
from authward.store.records import StoredClient
from authward.users import SignIn, UserAccount

#: A client_id we do not know makes us look again, but not more often than this (seconds).
_UNKNOWN_CLIENT_RELOAD = 1.0


class ClientView(Protocol):
    """The registered clients by ``client_id``, renewed in the background like every view
    (``aw.registered_clients``, an :class:`authward.refreshing.Refreshing`)."""

    @property
    def value(self) -> Mapping[str, StoredClient] | None: ...
    async def get(self) -> Mapping[str, StoredClient]: ...
    async def loaded_within(self, seconds: float) -> Mapping[str, StoredClient]: ...


class BrowserClient(Protocol):
    """What the authorization endpoint and the consent page read of a client: a declared one
    (``StoredClient``) or one a fallback found (``authward.oauth.clients.Client``)."""

    @property
    def client_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def redirect_uris(self) -> tuple[str, ...]: ...
    @property
    def grant_types(self) -> tuple[str, ...]: ...


#: Where a client the view does not hold may be found (registered clients, decision 049).
ClientFallback = Callable[[str], Awaitable[BrowserClient | None]]


class BrowserUsers(Protocol):
    """What the pages call of :class:`authward.users.Users`."""

    async def get(self, user_id: str) -> UserAccount | None: ...
    async def sign_in(
        self,
        username: str,
        password: str,
        *,
        ip: str | None,
        user_agent: str | None = None,
        client_id: str | None = None,
    ) -> SignIn: ...


class AuditRecorder(Protocol):
    async def record(self, event: AuditEvent) -> None: ...


class ClientDirectory:
    """The registered OAuth clients by client_id, and what the config says of them."""

    def __init__(
        self,
        clients: ClientView,
        declared: Mapping[str, OAuth2Client],
        fallbacks: Sequence[ClientFallback] = (),
    ) -> None:
        self._clients = clients
        self._declared = declared
        self._fallbacks = tuple(fallbacks)

    async def refresh(self, client_id: str | None = None) -> None:
        """Make the view current, and (at most once a second) look for an unknown
        ``client_id``."""
        by_id = await self._clients.get()
        if client_id is not None and client_id not in by_id:
            await self._clients.loaded_within(_UNKNOWN_CLIENT_RELOAD)

    def lookup(self, client_id: str) -> StoredClient | None:
        return (self._clients.value or {}).get(client_id)

    async def find(self, client_id: str | None) -> BrowserClient | None:
        """The client, from the view (made current) or else from the fallbacks; a fallback may
        raise :class:`authward.oauth.errors.InvalidClient` (an unusable metadata document)."""
        await self.refresh(client_id)
        if client_id is None:
            return None
        found: BrowserClient | None = self.lookup(client_id)
        for fallback in self._fallbacks:
            if found is not None:
                break
            found = await fallback(client_id)
        return found

    def post_logout_uris(self, client_id: str) -> tuple[str, ...] | None:
        stored = self.lookup(client_id)
        if stored is None:
            return None
        spec = self._declared.get(stored.name)
        return spec.post_logout_redirect_uris if spec is not None else ()


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


class BrowserFlow:
    """``form_keys``: the instance key's ``authward-browser-forms`` keys; ``declared``: the
    config's OAuth clients by name; ``fallbacks``: where other clients are found; ``look``: how
    pages are rendered (the branding)."""

    def __init__(
        self,
        *,
        sessions: BrowserSessions,
        users: BrowserUsers,
        audit: AuditRecorder,
        clients: ClientView,
        declared: Mapping[str, OAuth2Client],
        form_keys: list[bytes],
        fallbacks: Sequence[ClientFallback] = (),
        look: Look | None = None,
    ) -> None:
        self.look = look or Look()
        self.sessions = sessions
        self.users = users
        self.audit = audit
        self.forms = FormSigner(form_keys)
        self.clients = ClientDirectory(clients, declared, fallbacks)

    def error_page(self, heading: str, message: str, *, status: int = 400) -> HTMLResponse:
        return self.look.message(heading, message, status=status)

    async def checked_form(self, request: Request, *, then: str) -> dict[str, str] | Response:
        """The posted form once its CSRF token checks out, or the page that refuses it; ``then``
        tells the user what to do about an expired form."""
        try:
            form = await read_form(request)
        except FormError as exc:
            return self.error_page("Invalid form", str(exc))
        if not self.forms.csrf_ok(request, form):
            return self.error_page(
                "Form expired",
                f"This form was not sent from this site or has expired. {then}",
                status=403,
            )
        return form

    async def signed_in(self, request: Request) -> tuple[SessionInfo, str] | None:
        """The browser's session and its user's username, if the user may still sign in."""
        session = await browser_session(self.sessions, request)
        if session is None:
            return None
        account = await self.users.get(session.user_id)
        if account is None or account.disabled:
            return None
        return session, account.username
