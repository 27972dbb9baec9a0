"""``build_app``: mount authward's endpoints on Starlette for one opened runtime."""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["build_app"]

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from authward.errors import SettingsError
from authward.observability import otel
from authward.runtime import Authward
from authward.server.account import console_routes
from authward.server.browser_flow import BrowserFlow
from authward.server.connection_routes import connection_routes
from authward.server.console_ports import ConsoleServices
from authward.server.dashboard import dashboard_routes
from authward.server.external_login import external_login_routes
from authward.server.guards import RequestGuard
from authward.server.login_pages import browser_routes
from authward.server.management import management_app
from authward.server.mounts import PathPrefix
from authward.server.oauth_routes import oauth_routes
from authward.server.observe import ObserveRequests
from authward.server.ops_routes import ops_routes
from authward.server.pages import Branding, Look
from authward.server.registration_routes import registration_routes
from authward.server.resource_metadata import resource_metadata_routes, same_origin
from authward.server.session_routes import session_routes
from authward.server.webhooks import webhook_routes
from authward.store.identities import ExternalIdentities
from authward.store.probes import SchemaProbe

#: Short enough that a rotated key reaches caches well before tokens it signs are common.
_JWKS_MAX_AGE = 300


AppFactory = Callable[[Authward], ASGIApp]


def build_app(
    aw: Authward,
    *,
    mount: AppFactory | None = None,
    mounts: Mapping[str, ASGIApp] | None = None,
    embedded: bool = False,
) -> Starlette:
    """authward's endpoints, the app module's ``mounts(aw)`` at their paths (decision 050),
    and its own ASGI app (its ``asgi(aw)``) under ``/``.
    ``embedded``: only authward's own endpoints; ``/`` and ``/healthz`` belong to the app
    authward runs inside (docs/your-own-app.md)."""

    # The key set changes a few times a year and is fetched by every verifier: encoded once per
    # renewal of the published keys (the same object until then), not once per request.
    encoded: tuple[object, bytes] | None = None

    async def jwks(_: Request) -> Response:
        nonlocal encoded
        keys = await aw.jwks()
        if encoded is None or encoded[0] is not keys:
            encoded = (keys, bytes(JSONResponse(keys).body))
        body = encoded[1]
        return Response(
            body,
            media_type="application/jwk-set+json",
            headers={"Cache-Control": f"public, max-age={_JWKS_MAX_AGE}"},
        )

    async def signing_keys() -> str | None:
        try:
            await aw.signing_keys.signer()
        except SettingsError:
            return "no signing key: run `authward migrate`"
        return None

    schema = SchemaProbe(aw.engine)
    token = aw.settings.metrics_token

    settings = aw.settings
    look = Look(
        Branding(
            product_name=settings.ui_product_name,
            logo_url=settings.ui_logo_url,
            primary_color=settings.ui_primary_color,
            header_color=settings.ui_header_color,
        )
    )
    admins = settings.dashboard_user_names

    def browser_flow() -> BrowserFlow:
        return BrowserFlow(
            sessions=aw.sessions,
            users=aw.users,
            audit=aw.audit,
            clients=aw.registered_clients,
            declared=aw.config.auth.oauth2_clients,
            form_keys=aw.keys_box.derive_keys("authward-browser-forms"),
            fallbacks=[
                aw.dynamic_clients.find,
                *([aw.client_metadata.metadata] if aw.client_metadata else []),
            ],
            look=look,
        )

    routes: list[BaseRoute] = [
        # First: the token endpoint is the hottest route (Starlette matches in order).
        # Token, introspection, revocation, userinfo and metadata (docs/authorization-server.md).
        *oauth_routes(
            aw.oauth,
            failures=aw.failed_authentications,
            verifier=aw.verifier,
            dpop=aw.dpop,
            users=aw.users,
        ),
        # Dynamic client registration, when the app switches it on (decision 049).
        *(registration_routes(aw.dynamic_clients) if aw.dynamic_clients.enabled else []),
        Route("/.well-known/jwks.json", jwks),
        # The metadata of the declared resource servers on this origin (RFC 9728).
        *resource_metadata_routes(
            same_origin(aw.resources.by_url.values(), aw.issuer), issuer=aw.issuer
        ),
        # Liveness, readiness and metrics (docs/operations.md).
        *(
            []
            if embedded
            else ops_routes(
                {
                    "database": schema.database,
                    "migrations": schema.migrations,
                    "signing_keys": signing_keys,
                    "jobs": aw.job_probe.ready,
                },
                jobs=aw.job_probe,
                metrics_token=token.get_secret_value() if token is not None else None,
                metrics_here=aw.settings.metrics_port is None,
            )
        ),
        # Browsers re-mint their short-lived session token here (see docs/organizations-and-
        # sessions.md).
        *session_routes(aw.sessions),
        # The authorization endpoint, login, consent and end-session pages.
        *browser_routes(
            browser_flow(),
            consents=aw.consents,
            codes=aw.oauth,
            keys=aw.keys,
            id_provider=aw.config.auth.id_provider,
            issuer=aw.issuer,
            leeway_seconds=aw.settings.token_leeway_seconds,
            resources=aw.resources,
        ),
        # "Sign in with <provider>" (docs/external-idp.md).
        *external_login_routes(
            aw.config.auth.id_provider,
            sessions=aw.sessions,
            users=aw.users,
            identities=ExternalIdentities(aw.engine, audit=aw.audit),
            audit=aw.audit,
            vault=aw.connections,
            box=aw.keys_box,
            issuer=aw.issuer,
            leeway_seconds=aw.settings.token_leeway_seconds,
            look=look,
        ),
        # The jobs dashboard, behind browser sign-in (docs/dashboard.md).
        *dashboard_routes(aw.jobs, browser_flow(), viewers=admins),
        # Connecting third-party accounts to the vault (docs/connected-accounts.md).
        *connection_routes(
            aw.connections, browser_flow(), issuer=aw.issuer, box=aw.keys_box, admins=admins
        ),
        # The one stylesheet of every page.
        *look.routes(),
        # The admin console and the self-service page (docs/console.md); / when it is ours.
        *console_routes(
            browser_flow(),
            ConsoleServices(
                users=aw.users,
                sessions=aw.sessions,
                api_keys=aw.api_keys,
                organizations=aw.organizations,
                connections=aw.connections,
                consents=aw.consents,
                audit=aw.audit,
                clients=aw.clients,
                machine_users=aw.machine_users,
                registered_clients=aw.dynamic_clients,
                secret_rotation=aw.secret_rotation,
                admins=admins,
            ),
            home=mount is None and not embedded,
        ),
        # Deliveries for dynamic triggers (docs/dynamic-triggers.md).
        *webhook_routes(aw.jobs),
    ]
    management = management_app(
        admins=aw.settings.admin_machine_user_names,
        defined_machine_users=aw.config.auth.machine_users.keys(),
        machine_users=aw.machine_users,
        clients=aw.clients,
        secret_rotation=aw.secret_rotation,
        users=aw.users,
        api_keys=aw.api_keys,
        organizations=aw.organizations,
        sessions=aw.sessions,
        connections=aw.connections,
        audit=aw.audit,
        jobs=aw.jobs,
        registered_clients=aw.dynamic_clients,
        verifier=aw.verifier,
        dpop=aw.dpop,
    )
    if management is not None:
        routes.append(Mount("/v1", app=management))
    routes.extend(PathPrefix(path, app) for path, app in (mounts or {}).items())
    if mount is not None:
        routes.append(Mount("/", app=mount(aw)))
    observe = Middleware(ObserveRequests, access_log=aw.settings.access_log)
    guard = Middleware(RequestGuard, max_header_bytes=aw.settings.max_header_bytes)
    tracing = otel.active()
    traced = [Middleware(tracing.asgi)] if tracing is not None else []
    return Starlette(routes=routes, middleware=[*traced, observe, guard])
