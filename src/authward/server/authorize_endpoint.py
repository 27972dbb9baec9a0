"""The authorization endpoint and the consent page (RFC 6749 §4.1, OIDC Core §3.1.2).

    GET|POST /oauth2/authorize            validate; sign in, ask consent, or answer the client
    GET      /oauth2/authorize/continue   back from a login page (ours or an external IdP's)
    POST     /consent                     the consent form (Allow / Deny)

The request's parameters never travel through a form as such: the login and consent pages carry
a signed ticket holding them, and the request is validated again when the ticket comes back.
"""

from __future__ import annotations

__all__ = [
    "LOGIN_TICKET_SECONDS",
    "AuthorizeEndpoint",
    "CodeIssuer",
    "ConsentBook",
    "authorize_routes",
    "ticket_pairs",
]

import time
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authward.identity.sessions import SessionInfo
from authward.oauth.authorize import (
    MAX_PARAMETER_CHARS,
    AuthorizationError,
    AuthorizationRequest,
    error_response_uri,
    parse_authorization_request,
    success_response_uri,
)
from authward.oauth.client_metadata import ClientMetadata
from authward.oauth.errors import AccessDenied, ConsentRequired, LoginRequired, OAuthError
from authward.oauth.grants import CodeGrant
from authward.oauth.resources import Resources, consent_scopes
from authward.server.browser_flow import BrowserClient, BrowserFlow, client_ip
from authward.server.forms import FormError, read_form_pairs
from authward.server.pages import no_store_redirect

#: How long the login page may stay open before its ticket expires (seconds).
LOGIN_TICKET_SECONDS = 1800
#: How long the consent page may stay open (seconds).
CONSENT_TICKET_SECONDS = 600
Pairs = Sequence[tuple[str, str]]


class ConsentBook(Protocol):
    """What the consent page calls of :class:`authward.store.consents.ConsentStore`."""

    async def covers(self, user_id: str, client_id: str, scopes: tuple[str, ...]) -> bool: ...
    async def grant(
        self, user_id: str, client_id: str, scopes: tuple[str, ...], *, ip: str | None = None
    ) -> object: ...
    async def deny(
        self, user_id: str, client_id: str, scopes: tuple[str, ...], *, ip: str | None = None
    ) -> None: ...


class CodeIssuer(Protocol):
    async def issue_code(self, grant: CodeGrant) -> str: ...


def ticket_pairs(ticket: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    """The authorization request's parameters a login or consent ticket holds."""
    raw = ticket.get("p") if ticket else None
    if not isinstance(raw, list):
        return None
    return [(str(p[0]), str(p[1])) for p in raw if isinstance(p, list) and len(p) == 2]


class AuthorizeEndpoint:
    def __init__(
        self,
        flow: BrowserFlow,
        *,
        consents: ConsentBook,
        codes: CodeIssuer,
        issuer: str,
        resources: Resources | None = None,
    ) -> None:
        """``resources``: the resource servers a request may name (RFC 8707)."""
        self.flow = flow
        self.consents = consents
        self.codes = codes
        self.issuer = issuer
        self.resources = resources or Resources((), issuer)

    async def validate(self, pairs: Pairs) -> tuple[AuthorizationRequest, BrowserClient] | Response:
        """The valid request and its client, or the response that refuses it."""
        ids = [v for k, v in pairs if k == "client_id"]
        found: BrowserClient | None = None
        if len(ids) == 1 and ids[0] and len(ids[0]) <= MAX_PARAMETER_CHARS:
            try:
                found = await self.flow.clients.find(ids[0])
            except OAuthError as exc:
                # A client_id URL whose metadata document is unusable: nobody to redirect to.
                return self._misconfigured(exc.description)

        def lookup(cid: str) -> BrowserClient | None:
            return found if found is not None and found.client_id == cid else None

        try:
            request, client = parse_authorization_request(pairs, lookup, self.resources)
        except AuthorizationError as exc:
            if exc.redirect_uri is None:
                return self._misconfigured(exc.error.description)
            return self._error(exc.redirect_uri, exc.error, exc.state)
        assert client is found
        assert found is not None
        return request, found

    def _misconfigured(self, description: str) -> Response:
        return self.flow.error_page(
            "Invalid authorization request",
            f"{description}. The application that sent you here is "
            "misconfigured; you were not redirected back to it.",
        )

    def _error(self, redirect_uri: str, error: OAuthError, state: str | None) -> Response:
        return no_store_redirect(
            error_response_uri(redirect_uri, error, state=state, issuer=self.issuer)
        )

    async def authorize(
        self, request: Request, pairs: Pairs, *, fresh_since: float | None = None
    ) -> Response:
        """``fresh_since``: when the login page this request went through was shown; a session
        started after it satisfies ``prompt=login`` and ``max_age``."""
        valid = await self.validate(pairs)
        if isinstance(valid, Response):
            return valid
        req, client = valid
        signed_in = await self.flow.signed_in(request)
        if signed_in is None or self._must_log_in(req, signed_in[0], fresh_since):
            if "none" in req.prompt:
                return self._error(
                    req.redirect_uri, LoginRequired("the user must sign in"), req.state
                )
            # "since": a session started after this satisfies prompt=login and max_age.
            ticket = self.flow.forms.ticket(
                "login", {"p": [list(p) for p in pairs], "since": time.time()}
            )
            return no_store_redirect("/login?" + urlencode({"ticket": ticket}))
        session, username = signed_in
        if "consent" in req.prompt or not await self.consents.covers(
            session.user_id, req.client_id, consent_scopes(req.scopes, req.resource)
        ):
            if "none" in req.prompt:
                return self._error(
                    req.redirect_uri, ConsentRequired("the user must consent"), req.state
                )
            return self._consent_page(request, pairs, req, client, session, username)
        return await self._issue(req, session)

    @staticmethod
    def _must_log_in(
        req: AuthorizationRequest, session: SessionInfo, fresh_since: float | None
    ) -> bool:
        auth_time = session.created_at.timestamp()
        if fresh_since is not None and auth_time >= fresh_since:
            return False
        if req.forces_login:
            return True
        return req.max_age is not None and time.time() - auth_time > req.max_age

    async def _issue(self, req: AuthorizationRequest, session: SessionInfo) -> Response:
        code = await self.codes.issue_code(
            CodeGrant(
                client_id=req.client_id,
                redirect_uri=req.redirect_uri,
                scopes=req.scopes,
                user_id=session.user_id,
                code_challenge=req.code_challenge,
                nonce=req.nonce,
                auth_time=int(session.created_at.timestamp()),
                session_id=session.id,
                dpop_jkt=req.dpop_jkt,
                resource=req.resource.url if req.resource else None,
            )
        )
        return no_store_redirect(
            success_response_uri(req.redirect_uri, code=code, state=req.state, issuer=self.issuer)
        )

    def _consent_page(
        self,
        request: Request,
        pairs: Pairs,
        req: AuthorizationRequest,
        client: BrowserClient,
        session: SessionInfo,
        username: str,
    ) -> Response:
        forms = self.flow.forms
        csrf, cookie = forms.csrf_token(request)
        ticket = forms.ticket("consent", {"p": [list(p) for p in pairs], "sid": session.id})
        scopes = (
            [SCOPE_TEXT.get(s, s) for s in req.scopes]
            if req.scopes
            else ["Know that you use it (nothing else)"]
        )
        if req.resource is not None:
            # RFC 8707: the one service the token will be good for.
            scopes.insert(0, f"Use {req.resource.resource_name} ({req.resource.url}) as you")
        description, facts = _client_facts(client)
        response = self.flow.look.page(
            "consent.html",
            title="Allow access?",
            form_targets=[req.redirect_uri],
            client_name=client.name,
            description=description,
            facts=facts,
            scopes=scopes,
            username=username,
            csrf=csrf,
            ticket=ticket,
        )
        forms.set_csrf_cookie(request, response, cookie)
        return response

    # -- routes ---------------------------------------------------------------------------------

    async def get(self, request: Request) -> Response:
        return await self.authorize(request, request.query_params.multi_items())

    async def post(self, request: Request) -> Response:
        # OIDC Core §3.1.2.1: the same parameters, form-serialized.
        try:
            pairs = await read_form_pairs(request)
        except FormError as exc:
            return self.flow.error_page("Invalid authorization request", str(exc))
        return await self.authorize(request, pairs)

    async def resume(self, request: Request) -> Response:
        ticket = self.flow.forms.open_ticket(
            "login", request.query_params.get("ticket"), LOGIN_TICKET_SECONDS
        )
        pairs = ticket_pairs(ticket)
        if ticket is None or pairs is None:
            return self.flow.error_page(
                "Sign-in expired",
                "This sign-in took too long or its link is not valid. Go back to the "
                "application and start again.",
            )
        since = ticket.get("since")
        fresh_since = float(since) if isinstance(since, int | float) else float(ticket["at"])
        return await self.authorize(request, pairs, fresh_since=fresh_since)

    async def consent(self, request: Request) -> Response:
        forms = self.flow.forms
        form = await self.flow.checked_form(
            request, then="Go back to the application and start again."
        )
        if isinstance(form, Response):
            return form
        ticket = forms.open_ticket("consent", form.get("ticket"), CONSENT_TICKET_SECONDS)
        pairs = ticket_pairs(ticket)
        if ticket is None or pairs is None:
            return self.flow.error_page(
                "Consent expired",
                "This page was open too long. Go back to the application and start again.",
            )
        signed_in = await self.flow.signed_in(request)
        if signed_in is None or signed_in[0].id != ticket.get("sid"):
            return self.flow.error_page(
                "Signed out",
                "You are no longer signed in as the user this page was shown to. Go back to "
                "the application and start again.",
                status=403,
            )
        session = signed_in[0]
        valid = await self.validate(pairs)
        if isinstance(valid, Response):
            return valid
        req, _ = valid
        decision = form.get("decision")
        ip = client_ip(request)
        if decision == "deny":
            await self.consents.deny(
                session.user_id, req.client_id, consent_scopes(req.scopes, req.resource), ip=ip
            )
            return self._error(
                req.redirect_uri, AccessDenied("the user denied the request"), req.state
            )
        if decision != "allow":
            return self.flow.error_page("Invalid form", "choose Allow or Deny")
        await self.consents.grant(
            session.user_id, req.client_id, consent_scopes(req.scopes, req.resource), ip=ip
        )
        return await self._issue(req, session)


#: What each scope lets the client do, in the user's words.
SCOPE_TEXT = {
    "openid": "Know who you are (your account id)",
    "profile": "Read your profile",
    "email": "Read your email address",
    "offline_access": "Keep access while you are not using it",
}


def _client_facts(client: BrowserClient) -> tuple[str, list[str]]:
    """What the page says of the client besides its name. For a client known by its metadata
    document, the host that publishes it first (the one thing the document cannot claim), then
    what the document says; its logo is not loaded (only where it would come from)."""
    if not isinstance(client, ClientMetadata):
        return client.description, []
    facts = [f"Published at {client.host} ({client.client_id})"]
    if client.client_uri:
        facts.append(f"Website: {client.client_uri}")
    if client.logo_origin:
        facts.append(f"Logo served from {client.logo_origin}")
    return "", facts


def authorize_routes(endpoint: AuthorizeEndpoint) -> list[BaseRoute]:
    return [
        Route("/oauth2/authorize", endpoint.get, methods=["GET"]),
        Route("/oauth2/authorize", endpoint.post, methods=["POST"]),
        Route("/oauth2/authorize/continue", endpoint.resume, methods=["GET"]),
        Route("/consent", endpoint.consent, methods=["POST"]),
    ]
