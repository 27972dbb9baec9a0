"""The connections page: a signed-in user connects and disconnects third-party accounts.

    GET  /connections                        the providers, each with Connect or Disconnect
    POST /connections/{provider}/start       (CSRF) 303 to the provider's authorization endpoint
    GET  /connections/{provider}/callback    the provider's redirect back: 303 to /connections
    POST /connections/{provider}/disconnect  (CSRF) revoke at the provider, remove the row

The page reuses the browser session and CSRF tokens of the login pages (signed out: 303 to
``/login?return_to=/connections``). Between start and callback, the pending connection (state,
PKCE verifier, the user it is for) lives in a cookie sealed with the instance key, bound to the
provider by its associated data and sent only to the callback path, as the external login's
pending sign-in does (decision 014): a response finishes only a connection started in the same
browser, by the same signed-in user, once, within ten minutes.
"""

from __future__ import annotations

__all__ = ["PENDING_COOKIE", "AccountConnections", "connection_routes"]

import base64
import binascii
import builtins
import hmac
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC
from typing import Protocol
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authward.config.connection import ConnectionProvider
from authward.connections.client import (
    ProviderClient,
    ProviderUnreachable,
    TokenRefused,
    TokenSet,
    pkce_pair,
)
from authward.connections.ports import Sealer
from authward.connections.values import ConnectionInfo
from authward.errors import SettingsError
from authward.server.browser_flow import BrowserFlow
from authward.server.pages import Nav, no_store_redirect

log = logging.getLogger("authward.server.connection_routes")

PENDING_COOKIE = "aw_connect"
PENDING_SECONDS = 600
_MAX_COOKIE = 2048
_MAX_CODE = 4096


class AccountConnections(Protocol):
    """What the pages need of the vault (:class:`authward.connections.vault.ConnectionVault`)."""

    @property
    def providers(self) -> Mapping[str, ConnectionProvider]: ...
    def client(self, name: str) -> ProviderClient: ...
    async def list(self, account_id: str | None = None) -> builtins.list[ConnectionInfo]: ...
    async def store(
        self, account_id: str, provider: str, tokens: TokenSet, *, actor: str | None = None
    ) -> ConnectionInfo: ...
    async def disconnect(
        self, account_id: str, provider: str, *, actor: str | None = None
    ) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Pending:
    state: str
    code_verifier: str | None
    account_id: str
    created_at: int


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class ConnectionPages:
    def __init__(
        self,
        vault: AccountConnections,
        flow: BrowserFlow,
        *,
        issuer: str,
        box: Sealer,
        admins: frozenset[str] = frozenset(),
    ) -> None:
        self.admins = admins
        self.vault = vault
        self.flow = flow
        self._issuer = issuer
        self._box = box

    def _callback_path(self, provider: str) -> str:
        return f"/connections/{provider}/callback"

    def _redirect_uri(self, provider: str) -> str:
        return self._issuer + self._callback_path(provider)

    # -- the sealed pending connection -----------------------------------------------------------

    def _seal(self, provider: str, pending: _Pending) -> str:
        data = json.dumps(asdict(pending), separators=(",", ":")).encode()
        blob = self._box.seal(data, f"authward:connect:{provider}")
        return base64.urlsafe_b64encode(blob).rstrip(b"=").decode()

    def _open(self, request: Request, provider: str) -> _Pending | None:
        value = request.cookies.get(PENDING_COOKIE)
        if not value or len(value) > _MAX_COOKIE:
            return None
        try:
            blob = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            raw = json.loads(self._box.open(blob, f"authward:connect:{provider}"))
            pending = _Pending(**raw)
        except (binascii.Error, ValueError, TypeError, SettingsError):
            return None  # tampered with, or sealed by another instance or for another provider
        if not isinstance(pending.state, str) or not isinstance(pending.created_at, int):
            return None
        return pending

    def _forget(self, request: Request, response: Response, provider: str) -> None:
        response.delete_cookie(
            PENDING_COOKIE,
            path=self._callback_path(provider),
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )

    # -- pages -----------------------------------------------------------------------------------

    async def _viewer(self, request: Request) -> tuple[str, str] | None:
        signed_in = await self.flow.signed_in(request)
        return (signed_in[0].user_id, signed_in[1]) if signed_in else None

    def _provider(self, request: Request) -> ConnectionProvider | None:
        return self.vault.providers.get(str(request.path_params["provider"]))

    async def page(self, request: Request) -> Response:
        viewer = await self._viewer(request)
        if viewer is None:
            return no_store_redirect("/login?" + urlencode({"return_to": "/connections"}))
        user_id, username = viewer
        mine = {c.provider: c for c in await self.vault.list(user_id) if c.kind == "account"}
        csrf, cookie = self.flow.forms.csrf_token(request)
        items = [
            self._item(provider, mine.get(provider.name))
            for provider in self.vault.providers.values()
        ]
        notice = ""
        done = request.query_params.get("connected") or request.query_params.get("removed")
        if done is not None and done in self.vault.providers:
            what = "Connected" if request.query_params.get("connected") else "Disconnected"
            notice = f"{what} {self.vault.providers[done].display_name}."
        # Chromium applies form-action to the redirects that follow a submission, so the
        # Connect form's 303 to a provider needs that provider's origin listed.
        targets = [p.authorize_url for p in self.vault.providers.values() if p.authorize_url]
        response = self.flow.look.page(
            "connections.html",
            title="Connected accounts",
            form_targets=targets,
            nav=Nav(username, admin=username in self.admins, section="account"),
            username=username,
            notice=notice,
            items=items,
            csrf=csrf,
        )
        self.flow.forms.set_csrf_cookie(request, response, cookie)
        return response

    @staticmethod
    def _item(provider: ConnectionProvider, info: ConnectionInfo | None) -> dict[str, object]:
        if info is None:
            state = "not connected"
        elif info.status == "broken":
            state = f"broken ({info.broken_reason}): connect again"
        else:
            label = (
                f" as {info.label or info.external_id}" if info.label or info.external_id else ""
            )
            state = f"connected{label} since {info.created_at.astimezone(UTC):%Y-%m-%d}"
        item: dict[str, object] = {
            "name": provider.display_name,
            "provider": provider.name,
            "state": state,
            "disconnect": info is not None,
            "via_login": None,
            "connect": None,
        }
        if info is None or info.status == "broken":
            if provider.id_provider is not None:
                item["via_login"] = f"/login/external/{provider.id_provider}?" + urlencode(
                    {"return_to": "/connections"}
                )
            else:
                item["connect"] = "Connect" if info is None else "Reconnect"
        return item

    async def _checked_post(self, request: Request) -> tuple[str, ConnectionProvider] | Response:
        """The signed-in user and the provider of a CSRF-checked form post, or the refusal."""
        form = await self.flow.checked_form(request, then="Reload the page and try again.")
        if isinstance(form, Response):
            return form
        viewer = await self._viewer(request)
        if viewer is None:
            return no_store_redirect("/login?" + urlencode({"return_to": "/connections"}))
        provider = self._provider(request)
        if provider is None:
            return self.flow.error_page(
                "Unknown provider", "This service has no such provider.", status=404
            )
        return viewer[0], provider

    async def start(self, request: Request) -> Response:
        checked = await self._checked_post(request)
        if isinstance(checked, Response):
            return checked
        user_id, provider = checked
        if provider.id_provider is not None:
            return no_store_redirect(
                f"/login/external/{provider.id_provider}?"
                + urlencode({"return_to": "/connections"})
            )
        client = self.vault.client(provider.name)
        verifier, challenge = pkce_pair() if client.pkce else (None, None)
        pending = _Pending(
            state=secrets.token_urlsafe(32),
            code_verifier=verifier,
            account_id=user_id,
            created_at=int(time.time()),
        )
        url = await client.authorize_url(
            redirect_uri=self._redirect_uri(provider.name),
            state=pending.state,
            code_challenge=challenge,
        )
        response = no_store_redirect(url)
        response.headers.update(self.flow.look.headers())
        response.set_cookie(
            PENDING_COOKIE,
            self._seal(provider.name, pending),
            max_age=PENDING_SECONDS,
            path=self._callback_path(provider.name),
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
        return response

    async def callback(self, request: Request) -> Response:
        provider = self._provider(request)
        if provider is None or provider.id_provider is not None:
            return self.flow.error_page(
                "Unknown provider", "This service has no such provider.", status=404
            )
        pending = self._open(request, provider.name)
        response = await self._finish(request, provider, pending)
        # Whatever happened, this pending connection is spent.
        self._forget(request, response, provider.name)
        return response

    async def _finish(
        self, request: Request, provider: ConnectionProvider, pending: _Pending | None
    ) -> Response:
        name = provider.display_name
        params: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            if key in params:
                return self._refused(
                    provider, "repeated_parameter", "The response repeats a value."
                )
            params[key] = value
        if pending is None:
            return self._refused(
                provider,
                "no_pending_connection",
                "This connection was not started in this browser, was already used, or has "
                "expired. Please start again.",
            )
        if not 0 <= time.time() - pending.created_at < PENDING_SECONDS:
            return self._refused(provider, "expired", "This took too long. Please start again.")
        state = params.get("state")
        if state is None or not _same(state, pending.state):
            return self._refused(
                provider,
                "state_mismatch",
                "This response does not belong to the connection started in this browser.",
            )
        viewer = await self._viewer(request)
        if viewer is None or viewer[0] != pending.account_id:
            return self._refused(
                provider,
                "signed_out",
                "You are no longer signed in as the user who started this connection.",
            )
        if params.get("error") is not None:
            return self._refused(
                provider, "provider_denied", f"The connection was cancelled or refused at {name}."
            )
        code = params.get("code")
        if not code or len(code) > _MAX_CODE:
            return self._refused(provider, "no_code", f"{name} sent no authorization code.")
        try:
            tokens = await self.vault.client(provider.name).exchange(
                code,
                redirect_uri=self._redirect_uri(provider.name),
                code_verifier=pending.code_verifier,
            )
        except TokenRefused as exc:
            return self._refused(
                provider,
                "token_error",
                f"{name} refused to complete the connection ({exc.error}). Please start again.",
            )
        except ProviderUnreachable as exc:
            log.warning("connecting %s failed: %s", provider.name, exc)
            return self.flow.error_page(
                "Connection unavailable",
                f"{name} cannot be reached right now. Please try again later.",
                status=502,
            )
        await self.vault.store(pending.account_id, provider.name, tokens, actor=pending.account_id)
        response = no_store_redirect("/connections?" + urlencode({"connected": provider.name}))
        response.headers.update(self.flow.look.headers())
        return response

    def _refused(self, provider: ConnectionProvider, reason: str, message: str) -> Response:
        log.info("connecting %s refused: %s", provider.name, reason)
        return self.flow.error_page("Connection failed", message)

    async def disconnect(self, request: Request) -> Response:
        checked = await self._checked_post(request)
        if isinstance(checked, Response):
            return checked
        user_id, provider = checked
        await self.vault.disconnect(user_id, provider.name, actor=user_id)
        return no_store_redirect("/connections?" + urlencode({"removed": provider.name}))


def connection_routes(
    vault: AccountConnections,
    flow: BrowserFlow,
    *,
    issuer: str,
    box: Sealer,
    admins: frozenset[str] = frozenset(),
) -> list[BaseRoute]:
    """The connections page and its flow (always mounted: it lists no provider when none are
    configured). ``box`` seals the pending connection's cookie (the instance key); ``admins``:
    the usernames whose navigation shows the console."""
    pages = ConnectionPages(vault, flow, issuer=issuer, box=box, admins=admins)
    return [
        Route("/connections", pages.page, methods=["GET"]),
        Route("/connections/{provider}/start", pages.start, methods=["POST"]),
        Route("/connections/{provider}/callback", pages.callback, methods=["GET"]),
        Route("/connections/{provider}/disconnect", pages.disconnect, methods=["POST"]),
    ]
