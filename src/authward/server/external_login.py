""" "Sign in with <provider>": the routes of the external IdP login (docs/external-idp.md).

    GET /login/external/{name}?return_to=/path    → 303 to the provider's authorization endpoint
    GET /login/external/{name}/callback           → 303 to return_to, signed in

Between the two, the pending sign-in (state, nonce, PKCE verifier, return_to) lives in a cookie
sealed with the instance key (AES-GCM, bound to the provider by its associated data), HttpOnly,
SameSite=Lax (the provider's redirect back is a top-level GET), sent only to the callback path and
cleared by the callback whatever its outcome. So a response can only finish a sign-in started in
the same browser, once, within ten minutes. The protocol checks are in
:mod:`authward.oauth.upstream`; who the identity signs in as, in
:mod:`authward.oauth.upstream_accounts`.
"""

from __future__ import annotations

__all__ = ["TokenKeeper", "external_login_routes"]

import base64
import binascii
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authward.config.idp import IdProvider
from authward.connections.ports import Sealer
from authward.errors import SettingsError
from authward.oauth.upstream import Upstream
from authward.oauth.upstream_accounts import resolve_user
from authward.oauth.upstream_values import (
    PENDING_LIFETIME_SECONDS,
    PendingLogin,
    UpstreamError,
    safe_return_to,
)
from authward.server.browser import (
    BrowserSessions,
    browser_session,
    end_browser_session,
    start_browser_session,
)
from authward.server.browser_flow import AuditRecorder
from authward.server.pages import Look, no_store_redirect
from authward.store.audit import AuditEvent
from authward.store.identities import ExternalIdentities
from authward.users import Users

log = logging.getLogger("authward.server.external_login")

PENDING_COOKIE = "aw_external_login"
#: A sealed pending sign-in is a few hundred bytes; anything much larger is not one of ours.
_MAX_COOKIE = 2048


class TokenKeeper(Protocol):
    """What the login calls of the vault (:class:`authward.connections.vault.ConnectionVault`)."""

    @property
    def providers(self) -> Mapping[str, object]: ...
    async def store_token_response(
        self, account_id: str, provider: str, body: Mapping[str, Any], external_id: str | None
    ) -> object: ...


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


class _ExternalLogin:
    def __init__(
        self,
        provider: IdProvider,
        *,
        sessions: BrowserSessions,
        users: Users,
        identities: ExternalIdentities,
        audit: AuditRecorder,
        vault: TokenKeeper,
        box: Sealer,
        issuer: str,
        leeway_seconds: int,
        look: Look,
    ) -> None:
        self.look = look
        self.provider = provider
        self.sessions = sessions
        self.users = users
        self.identities = identities
        self.audit = audit
        self.vault = vault
        self.box = box
        self.callback_path = f"/login/external/{provider.name}/callback"
        self.upstream = Upstream(
            provider,
            issuer + self.callback_path,
            leeway=leeway_seconds,
        )
        self._aad = f"authward:external-login:{provider.name}"

    def _page(self, status: int, heading: str, message: str) -> Response:
        return self.look.message(heading, message, status=status)

    # -- the sealed pending sign-in ------------------------------------------------------------

    def _seal(self, pending: PendingLogin) -> str:
        blob = self.box.seal(pending.to_json(), self._aad)
        return base64.urlsafe_b64encode(blob).rstrip(b"=").decode()

    def _open(self, request: Request) -> PendingLogin | None:
        value = request.cookies.get(PENDING_COOKIE)
        if not value or len(value) > _MAX_COOKIE:
            return None
        try:
            blob = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            return PendingLogin.from_json(self.box.open(blob, self._aad))
        except (binascii.Error, ValueError, SettingsError):
            return None  # tampered with, or sealed by another instance or for another provider

    # -- routes --------------------------------------------------------------------------------

    def _known(self, request: Request) -> bool:
        return bool(request.path_params["name"] == self.provider.name)

    async def start(self, request: Request) -> Response:
        if not self._known(request):
            return self._page(404, "Unknown sign-in provider", "This service has no such provider.")
        values = request.query_params.getlist("return_to")
        return_to = safe_return_to(values[0]) if len(values) == 1 else "/" if not values else None
        if return_to is None:
            return self._page(
                400,
                "Invalid sign-in link",
                "The page to return to after signing in must be a page of this service.",
            )
        try:
            url, pending = await self.upstream.begin(return_to)
        except UpstreamError as exc:
            log.warning("external login via %s cannot start: %s", self.provider.name, exc)
            return self._unavailable(exc.status)
        response = no_store_redirect(url)
        response.headers.update(self.look.headers())
        response.set_cookie(
            PENDING_COOKIE,
            self._seal(pending),
            max_age=PENDING_LIFETIME_SECONDS,
            path=self.callback_path,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
        return response

    async def callback(self, request: Request) -> Response:
        if not self._known(request):
            return self._page(404, "Unknown sign-in provider", "This service has no such provider.")
        pending = self._open(request)
        now = datetime.now(UTC)
        try:
            metadata = await self.upstream.metadata()
            code = self.upstream.check_callback(
                request.query_params.multi_items(), pending, metadata
            )
            assert pending is not None
            identity = await self.upstream.redeem(code, pending)
            resolution = await resolve_user(
                self.users, self.identities, self.provider, identity, now=now
            )
        except UpstreamError as exc:
            if exc.status >= 500:
                log.warning("external login via %s failed: %s", self.provider.name, exc)
            else:
                log.info("external login via %s refused: %s", self.provider.name, exc.reason)
            await self.audit.record(
                AuditEvent(
                    "login.external.failed",
                    now,
                    ip=_ip(request),
                    detail={"provider": self.provider.name, "reason": exc.reason},
                )
            )
            response = (
                self._unavailable(exc.status)
                if exc.status >= 500
                else self._page(exc.status, "Sign-in failed", str(exc))
            )
            self._forget(request, response)
            return response
        assert pending is not None
        user = resolution.user
        await self._keep_tokens(user.id, identity.tokens, identity.subject)
        response = no_store_redirect(pending.return_to)
        response.headers.update(self.look.headers())
        # A browser signed in as someone (else) before: that session ends here.
        if await browser_session(self.sessions, request) is not None:
            await end_browser_session(self.sessions, request, response)
        await start_browser_session(
            self.sessions, request, response, user.id, amr=f"external:{self.provider.name}"
        )
        self._forget(request, response)
        await self.audit.record(
            AuditEvent(
                "login.external.succeeded",
                now,
                subject=user.id,
                ip=_ip(request),
                detail={"provider": self.provider.name, "outcome": resolution.outcome},
            )
        )
        return response

    async def _keep_tokens(self, user_id: str, tokens: Any, subject: str) -> None:
        """The upstream tokens become the user's connection ``oauth_<name>`` when the app says
        ``connection.from_id_provider(name)``; a failure here does not fail the sign-in."""
        name = f"oauth_{self.provider.name}"
        if name not in self.vault.providers:
            return
        try:
            await self.vault.store_token_response(user_id, name, tokens, subject)
        except Exception as exc:  # the user is signed in either way; the page says nothing
            log.warning("keeping %s's tokens failed: %s", name, type(exc).__name__)

    def _unavailable(self, status: int) -> Response:
        # The details (which check of the provider's answers failed) are in the log, not here.
        return self._page(
            status,
            "Sign-in unavailable",
            f"{self.provider.name} cannot be reached right now. Please try again later.",
        )

    def _forget(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            PENDING_COOKIE,
            path=self.callback_path,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )


def external_login_routes(
    provider: IdProvider | None,
    *,
    sessions: BrowserSessions,
    users: Users,
    identities: ExternalIdentities,
    audit: AuditRecorder,
    vault: TokenKeeper,
    box: Sealer,
    issuer: str,
    leeway_seconds: int,
    look: Look | None = None,
) -> list[BaseRoute]:
    """The external IdP login routes, or none when the app configures no ``id_provider``.
    ``vault`` keeps the provider's tokens when the app asks for them as a connection."""
    if provider is None:
        return []
    login = _ExternalLogin(
        provider,
        sessions=sessions,
        users=users,
        identities=identities,
        audit=audit,
        vault=vault,
        box=box,
        issuer=issuer,
        leeway_seconds=leeway_seconds,
        look=look or Look(),
    )
    return [
        Route("/login/external/{name}", login.start, methods=["GET"]),
        Route("/login/external/{name}/callback", login.callback, methods=["GET"]),
    ]
