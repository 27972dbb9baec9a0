"""End session: OpenID Connect RP-Initiated Logout 1.0.

    GET|POST /oauth2/logout   id_token_hint, client_id, post_logout_redirect_uri, state

With a valid ``id_token_hint`` for the signed-in user (or no one signed in) the browser is signed
out at once. Otherwise the user confirms on a page (a CSRF-protected form), so another site
cannot sign people out by linking here. Afterwards the browser goes to the registered
``post_logout_redirect_uri`` (with ``state``), or sees a "signed out" page.
"""

from __future__ import annotations

__all__ = ["end_session_routes"]

from datetime import UTC, datetime
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authward.oauth.authorize import add_query
from authward.oauth.end_session import LogoutRequest, parse_logout_request
from authward.oauth.errors import InvalidRequest
from authward.server.browser import browser_session, end_browser_session
from authward.server.browser_flow import BrowserFlow, client_ip
from authward.server.forms import FormError, read_form_pairs
from authward.server.pages import no_store_redirect
from authward.store.audit import AuditEvent
from authward.store.records import StoredKey
from authward.tokens.jws_verify import verify_key_from_jwk

_CONFIRM_SECONDS = 600


class PublishedKeys(Protocol):
    """The signing keys an ``id_token_hint`` may be signed with."""

    async def published(self, now: datetime) -> list[StoredKey]: ...


class EndSession:
    def __init__(
        self, flow: BrowserFlow, keys: PublishedKeys, *, issuer: str, leeway_seconds: int
    ) -> None:
        self.flow = flow
        self.keys = keys
        self.issuer = issuer
        self.leeway_seconds = leeway_seconds

    async def handle(self, request: Request) -> Response:
        if request.method == "GET":
            pairs = request.query_params.multi_items()
        else:
            try:
                pairs = await read_form_pairs(request)
            except FormError as exc:
                return self.flow.error_page("Invalid sign-out request", str(exc))
            if any(name == "ticket" for name, _ in pairs):
                return await self._confirmed(request, dict(pairs))
        await self.flow.clients.refresh(next((v for k, v in pairs if k == "client_id"), None))
        published = await self.keys.published(datetime.now(UTC))
        try:
            logout = parse_logout_request(
                pairs,
                issuer=self.issuer,
                keys={k.kid: verify_key_from_jwk(k.public_jwk) for k in published},
                registered_uris=self.flow.clients.post_logout_uris,
                leeway=self.leeway_seconds,
            )
        except InvalidRequest as exc:
            return self.flow.error_page(
                "Invalid sign-out request",
                f"{exc.description}. You were not signed out or redirected.",
            )
        session = await browser_session(self.flow.sessions, request)
        if logout.hint_subject is not None and (
            session is None or session.user_id == logout.hint_subject
        ):
            return await self._sign_out(request, logout)
        return self._confirm_page(request, logout)

    def _confirm_page(self, request: Request, logout: LogoutRequest) -> Response:
        forms = self.flow.forms
        csrf, cookie = forms.csrf_token(request)
        ticket = forms.ticket(
            "logout",
            {
                "c": logout.client_id,
                "u": logout.post_logout_redirect_uri,
                "s": logout.state,
            },
        )
        client = self.flow.clients.lookup(logout.client_id) if logout.client_id else None
        message = (
            f"{client.name} asks to sign you out of authward."
            if client
            else "Do you want to sign out of authward?"
        )
        targets = [logout.post_logout_redirect_uri] if logout.post_logout_redirect_uri else []
        response = self.flow.look.page(
            "logout_confirm.html",
            title="Sign out?",
            form_targets=targets,
            message=message,
            csrf=csrf,
            ticket=ticket,
        )
        forms.set_csrf_cookie(request, response, cookie)
        return response

    async def _confirmed(self, request: Request, form: dict[str, str]) -> Response:
        forms = self.flow.forms
        if not forms.csrf_ok(request, form):
            return self.flow.error_page(
                "Form expired",
                "This form was not sent from this site or has expired. You were not signed out.",
                status=403,
            )
        ticket = forms.open_ticket("logout", form.get("ticket"), _CONFIRM_SECONDS)
        if ticket is None:
            return self.flow.error_page(
                "Sign-out expired", "This page was open too long. Try again."
            )
        client_id, target, state = ticket.get("c"), ticket.get("u"), ticket.get("s")
        if isinstance(client_id, str) and isinstance(target, str):
            await self.flow.clients.refresh(client_id)
            # The registration may have changed since the page was shown.
            if target not in (self.flow.clients.post_logout_uris(client_id) or ()):
                target = None
        else:
            target = None
        logout = LogoutRequest(
            client_id=client_id if isinstance(client_id, str) else None,
            post_logout_redirect_uri=target,
            state=state if isinstance(state, str) else None,
            hint_subject=None,
        )
        return await self._sign_out(request, logout)

    async def _sign_out(self, request: Request, logout: LogoutRequest) -> Response:
        response: Response
        if logout.post_logout_redirect_uri is not None:
            response = no_store_redirect(
                add_query(logout.post_logout_redirect_uri, {"state": logout.state})
            )
        else:
            response = self.flow.look.message("Signed out", "You are signed out.", status=200)
        session = await browser_session(self.flow.sessions, request)
        await end_browser_session(self.flow.sessions, request, response)
        if session is not None:
            await self.flow.audit.record(
                AuditEvent(
                    "session.ended",
                    datetime.now(UTC),
                    actor=session.user_id,
                    subject=session.user_id,
                    client_id=logout.client_id,
                    ip=client_ip(request),
                    detail={"session_id": session.id, "via": "end_session"},
                )
            )
        return response


def end_session_routes(
    flow: BrowserFlow, keys: PublishedKeys, *, issuer: str, leeway_seconds: int
) -> list[BaseRoute]:
    endpoint = EndSession(flow, keys, issuer=issuer, leeway_seconds=leeway_seconds)
    return [Route("/oauth2/logout", endpoint.handle, methods=["GET", "POST"])]
