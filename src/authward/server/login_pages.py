"""The login page, and :func:`browser_routes`: every page a browser sees at authward.

    GET  /login    the form (``?ticket=`` when an authorization request is waiting, or
                   ``?return_to=/path`` for a page of this server that needs sign-in)
    POST /login    check the password, sign the browser in, go back to the request or page

A failed login shows one message whatever went wrong (unknown user, wrong password, disabled
account), so the page does not tell which usernames exist; a throttled one says to try later.
"""

from __future__ import annotations

__all__ = ["browser_routes"]

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authward.config.idp import IdProvider
from authward.oauth.authorize import AuthorizationRequest
from authward.oauth.resources import Resources
from authward.oauth.upstream_values import safe_return_to
from authward.server.authorize_endpoint import (
    LOGIN_TICKET_SECONDS,
    AuthorizeEndpoint,
    CodeIssuer,
    ConsentBook,
    authorize_routes,
    ticket_pairs,
)
from authward.server.browser import browser_session, set_session_cookie
from authward.server.browser_flow import BrowserClient, BrowserFlow, client_ip
from authward.server.end_session import PublishedKeys, end_session_routes
from authward.server.pages import no_store_redirect
from authward.store.audit import AuditEvent
from authward.users import InvalidCredentials, LoginThrottled

_MAX_USERNAME = 320
_MAX_PASSWORD = 1024
_FAILED = "Incorrect username or password."
_THROTTLED = "Too many failed sign-ins. Try again later."


class LoginPage:
    def __init__(
        self, flow: BrowserFlow, authorize: AuthorizeEndpoint, id_provider: IdProvider | None
    ) -> None:
        self.flow = flow
        self.authorize = authorize
        self.id_provider = id_provider

    async def _pending(
        self, ticket_value: str | None
    ) -> tuple[AuthorizationRequest, BrowserClient] | Response | None:
        """The authorization request a ticket holds; ``None`` without a ticket."""
        if not ticket_value:
            return None
        pairs = ticket_pairs(
            self.flow.forms.open_ticket("login", ticket_value, LOGIN_TICKET_SECONDS)
        )
        if pairs is None:
            return self.flow.error_page(
                "Sign-in expired",
                "This sign-in took too long or its link is not valid. Go back to the "
                "application and start again.",
            )
        return await self.authorize.validate(pairs)

    def _form(
        self,
        request: Request,
        ticket: str,
        pending: tuple[AuthorizationRequest, BrowserClient] | None,
        *,
        username: str = "",
        return_to: str = "",
        alert: str = "",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        forms = self.flow.forms
        csrf, cookie = forms.csrf_token(request)
        provider = self.id_provider
        external: dict[str, str] | None = None
        if provider is not None:
            back = (
                "/oauth2/authorize/continue?" + urlencode({"ticket": ticket})
                if ticket
                else return_to or "/login"
            )
            href = f"/login/external/{provider.name}?" + urlencode({"return_to": back})
            external = {"href": href, "provider": provider.name}
        response = self.flow.look.page(
            "login.html",
            title="Sign in",
            status=status,
            form_targets=[pending[0].redirect_uri] if pending else [],
            headers=headers,
            client_name=pending[1].name if pending else "",
            alert=alert,
            csrf=csrf,
            ticket=ticket,
            return_to=return_to,
            username=username or (pending[0].login_hint or "" if pending else ""),
            external=external,
        )
        forms.set_csrf_cookie(request, response, cookie)
        return response

    async def get(self, request: Request) -> Response:
        ticket = request.query_params.get("ticket", "")
        pending = await self._pending(ticket)
        if isinstance(pending, Response):
            return pending
        # Where a page that needs sign-in (the dashboard) sends the browser back to.
        return_to = "" if pending else safe_return_to(request.query_params.get("return_to", ""))
        if pending is None:
            signed_in = await self.flow.signed_in(request)
            if signed_in is not None:
                if return_to:
                    return no_store_redirect(return_to)
                return self.flow.look.page(
                    "signed_in.html", title="Signed in", username=signed_in[1]
                )
        return self._form(request, ticket, pending, return_to=return_to or "")

    async def post(self, request: Request) -> Response:
        form = await self.flow.checked_form(request, then="Reload the sign-in page and try again.")
        if isinstance(form, Response):
            return form
        ticket = form.get("ticket", "")
        pending = await self._pending(ticket)
        if isinstance(pending, Response):
            return pending
        username, password = form.get("username", ""), form.get("password", "")
        return_to = "" if pending else safe_return_to(form.get("return_to", "")) or ""
        ip = client_ip(request)
        if not username or len(username) > _MAX_USERNAME or len(password) > _MAX_PASSWORD:
            await self._audit("login.failed", ip, pending, reason="invalid_credentials")
            return self._form(
                request, ticket, pending, return_to=return_to, alert=_FAILED, status=401
            )
        try:
            signed_in = await self.flow.users.sign_in(
                username,
                password,
                ip=ip,
                user_agent=request.headers.get("user-agent"),
                client_id=pending[0].client_id if pending else None,
            )
        except InvalidCredentials:
            await self._audit("login.failed", ip, pending, reason="invalid_credentials")
            return self._form(
                request,
                ticket,
                pending,
                username=username,
                return_to=return_to,
                alert=_FAILED,
                status=401,
            )
        except LoginThrottled as exc:
            await self._audit("login.failed", ip, pending, reason="throttled")
            return self._form(
                request,
                ticket,
                pending,
                username=username,
                return_to=return_to,
                alert=_THROTTLED,
                status=429,
                headers={"Retry-After": str(max(1, int(exc.retry_after_seconds)))},
            )
        target = (
            "/oauth2/authorize/continue?" + urlencode({"ticket": ticket})
            if pending
            else return_to or "/login"
        )
        if previous := await browser_session(self.flow.sessions, request):
            # The new session replaces the browser's old one, whoever it belonged to.
            await self.flow.sessions.revoke(previous.id, actor=previous.user_id)
        response = no_store_redirect(target)
        set_session_cookie(request, response, signed_in.secret)
        return response

    async def _audit(
        self,
        kind: str,
        ip: str | None,
        pending: tuple[AuthorizationRequest, BrowserClient] | None,
        **detail: Any,
    ) -> None:
        # Never the username: a mistyped one may be the password.
        await self.flow.audit.record(
            AuditEvent(
                kind,
                datetime.now(UTC),
                client_id=pending[0].client_id if pending else None,
                ip=ip,
                detail=detail,
            )
        )


def browser_routes(
    flow: BrowserFlow,
    *,
    consents: ConsentBook,
    codes: CodeIssuer,
    keys: PublishedKeys,
    id_provider: IdProvider | None,
    issuer: str,
    leeway_seconds: int,
    resources: Resources | None = None,
) -> list[BaseRoute]:
    """The authorization endpoint, login, consent and end-session pages. ``id_provider``: the
    config's external IdP, linked from the login page; ``leeway_seconds``: the clock skew an
    ``id_token_hint`` is allowed; ``resources``: the resource servers requests may name."""
    authorize = AuthorizeEndpoint(
        flow, consents=consents, codes=codes, issuer=issuer, resources=resources
    )
    login = LoginPage(flow, authorize, id_provider)
    return [
        *authorize_routes(authorize),
        Route("/login", login.get, methods=["GET"]),
        Route("/login", login.post, methods=["POST"]),
        *end_session_routes(flow, keys, issuer=issuer, leeway_seconds=leeway_seconds),
    ]
