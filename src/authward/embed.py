"""authward inside your own ASGI app (FastAPI, Starlette), served by ``uvicorn main:app``.

    aw = AuthwardApp(config, app_file=__file__, accepts_token=["oauth_token", "api_key"])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with aw:              # opens authward as `authward serve` does; closed after
            yield

    app = FastAPI(lifespan=lifespan)
    aw.install(app)                 # authward's endpoints beside yours, RFC 6750 refusals

    @app.get("/me")
    async def me(principal: Annotated[Principal, Security(aw.principal())]) -> ...

Nothing opens at import: the dependencies and entries built here find the runtime when a
request comes. See docs/your-own-app.md.
"""

from __future__ import annotations

__all__ = ["AuthwardApp", "open_runtime"]

import os
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from authward.agents._requires import RequiredValue
from authward.channel.authenticate import TokenType, check_accepts
from authward.channel.chain import AuthFn
from authward.channel.fastapi import authenticated
from authward.channel.responses import exception_handlers
from authward.config.app import Config
from authward.config.loader import load_app
from authward.errors import ConfigError
from authward.jobs.client import JobClient
from authward.jobs.discovery import find_job_clients
from authward.principal import Principal
from authward.runtime import Authward
from authward.server.app import build_app
from authward.settings import Settings, load_settings

#: A config, or the path of the app file that defines one (as ``--app`` takes).
AppSource = Config | str | os.PathLike[str]
Requirement = str | Collection[str] | None


def _load(app: AppSource) -> tuple[Config, ModuleType | None, Path | None]:
    if isinstance(app, Config):
        return app, None, None
    config, module = load_app(Path(app))
    return config, module, Path(app)


@asynccontextmanager
async def open_runtime(
    app: AppSource,
    settings: Settings | None = None,
    *,
    app_file: str | os.PathLike[str] | None = None,
    jobs: Sequence[JobClient] | None = None,
    migrate: bool | None = None,
) -> AsyncIterator[Authward]:
    """Open authward for a server of your own, as `authward serve` opens it: migrate the
    embedded store, write the config (refusing to delete without ``AUTHWARD_SYNC_PRUNE``),
    record this server's issuer, start the jobs; close all of it on the way out.

    ``app_file`` (default: ``app`` when it is a path) is the file ``authward --app`` names for
    this app, whose own database is the default one. ``jobs``: the job clients to run (default:
    those the app file defines). ``migrate``: as `authward serve`, only the embedded SQLite
    store migrates by itself unless this says otherwise (PostgreSQL: `authward migrate`)."""
    config, module, path = _load(app)
    source = app_file if app_file is not None else path
    if settings is None:
        settings = load_settings(app=Path(source)) if source is not None else load_settings()
    clients = list(jobs) if jobs is not None else find_job_clients(module) if module else []
    aw = await Authward.open(config, settings, migrate=migrate, record_issuer=True)
    try:
        aw.jobs.bind(clients)
        if aw.jobs.jobs:  # run here, or only queued for `authward worker`s
            await aw.jobs.start(worker=settings.jobs_worker, scheduler=settings.jobs_worker)
        yield aw
    finally:
        await aw.close()


def _not_open() -> ConfigError:
    return ConfigError(
        "authward is not open: enter the AuthwardApp in your app's lifespan (`async with aw:`), "
        "see docs/your-own-app.md",
        path="AuthwardApp",
    )


class AuthwardApp:
    """authward for one app of your own: open it in the app's lifespan (``async with``), serve
    its endpoints with :meth:`install`, and protect routes with :meth:`principal`.

    ``accepts_token`` are the token types routes accept unless they say otherwise; the other
    arguments are :func:`open_runtime`'s."""

    def __init__(
        self,
        app: AppSource,
        *,
        app_file: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
        accepts_token: Sequence[TokenType] = ("oauth_token",),
        machine_secret_key: str | None = None,
        jobs: Sequence[JobClient] | None = None,
        migrate: bool | None = None,
    ) -> None:
        self.config, module, path = _load(app)
        self.accepts_token = self._checked(accepts_token, machine_secret_key)
        self._machine_secret_key = machine_secret_key
        self._app_file = app_file if app_file is not None else path
        self._settings = settings
        self._migrate = migrate
        self._jobs = list(jobs) if jobs is not None else find_job_clients(module) if module else []
        self._stack: AsyncExitStack | None = None
        self._runtime: Authward | None = None
        self._endpoints: Starlette | None = None

    @staticmethod
    def _checked(accepts_token: Sequence[TokenType], msk: str | None) -> tuple[TokenType, ...]:
        check_accepts(accepts_token, machine_secret_key=msk)
        return tuple(accepts_token)

    @property
    def runtime(self) -> Authward:
        """The open runtime (``aw``): its stores, users, organizations, jobs..."""
        if self._runtime is None:
            raise _not_open()
        return self._runtime

    @property
    def endpoints(self) -> Starlette:
        """authward's own endpoints (token, JWKS, login, ...) for the open runtime."""
        if self._endpoints is None:
            raise _not_open()
        return self._endpoints

    async def __aenter__(self) -> Authward:
        if self._stack is not None:
            raise ConfigError("authward is already open", path="AuthwardApp")
        stack = AsyncExitStack()
        async with stack:
            aw = await stack.enter_async_context(
                open_runtime(
                    self.config,
                    self._settings,
                    app_file=self._app_file,
                    jobs=self._jobs,
                    migrate=self._migrate,
                )
            )
            # Built now, so a mistake in its settings stops the server from starting.
            endpoints = build_app(aw, embedded=True)
            self._stack = stack.pop_all()
        self._runtime, self._endpoints = aw, endpoints
        return aw

    async def __aexit__(self, *_: object) -> None:
        stack, self._stack = self._stack, None
        self._runtime = self._endpoints = None
        if stack is not None:
            await stack.aclose()

    def install(self, app: Starlette) -> None:
        """Serve authward's endpoints from ``app`` ahead of its own routes (the token endpoint,
        JWKS, discovery, login and consent pages... as `authward serve` does, except ``/`` and
        ``/healthz``), and answer authward's refusals as RFC 6750 says (401, 403)."""
        app.add_middleware(_Endpoints, authward=self)
        for exc_class, handler in exception_handlers().items():
            app.add_exception_handler(exc_class, handler)

    def principal(
        self,
        *,
        accepts_token: Sequence[TokenType] | None = None,
        permission: Requirement = None,
        scope: Requirement = None,
        role: Requirement = None,
        principal_type: Requirement = None,
        attribute: Mapping[str, RequiredValue] | None = None,
        resource: str | None = None,
    ) -> Callable[..., AsyncIterator[Principal]]:
        """A FastAPI dependency (``Security(auth.principal(...))``): the request's principal,
        401 without an accepted token, 403 when it misses a requirement. The app's OpenAPI gets
        a security scheme per accepted token type. ``resource``: a declared resource server
        (name or identifier) whose tokens alone are accepted; refusals name its metadata."""
        accepted = self._accepts(accepts_token)
        msk = self._machine_secret_key

        async def authenticate(request: Request) -> Principal:
            return await self.runtime.authenticate_request(
                request, accepts_token=accepted, machine_secret_key=msk, resource=resource
            )

        return authenticated(
            authenticate,
            accepts_token=accepted,
            permission=permission,
            scope=scope,
            role=role,
            principal_type=principal_type,
            attribute=attribute,
        )

    async def authenticate_request(
        self,
        request: HTTPConnection,
        *,
        accepts_token: Sequence[TokenType] | None = None,
        resource: str | None = None,
    ) -> Principal:
        """The request's principal, or ``UnauthenticatedError`` (401) with the reason."""
        return await self.runtime.authenticate_request(
            request,
            accepts_token=self._accepts(accepts_token),
            machine_secret_key=self._machine_secret_key,
            resource=resource,
        )

    def tokens_entry(
        self,
        *,
        accepts_token: Sequence[TokenType] | None = None,
        to_principal: Callable[[Any], Principal | None] | None = None,
        resource: str | None = None,
    ) -> AuthFn:
        """A chain entry for ``AuthMiddleware`` (built at import, used once authward is open):
        ``authward_tokens`` with this runtime's parts (docs/channel.md); bound to a declared
        ``resource`` as ``aw.tokens_entry(resource=...)`` is."""
        accepted = self._accepts(accepts_token)
        built: list[tuple[Authward, AuthFn]] = []

        async def authward_tokens_entry(request: HTTPConnection) -> Principal | None:
            aw = self.runtime
            if not built or built[0][0] is not aw:
                built[:] = [
                    (
                        aw,
                        aw.tokens_entry(
                            accepts_token=accepted,
                            machine_secret_key=self._machine_secret_key,
                            to_principal=to_principal,
                            resource=resource,
                        ),
                    )
                ]
            return await built[0][1](request)

        return authward_tokens_entry

    def _accepts(self, accepts_token: Sequence[TokenType] | None) -> tuple[TokenType, ...]:
        if accepts_token is None:
            return self.accepts_token
        return self._checked(accepts_token, self._machine_secret_key)


class _Endpoints:
    """A request for one of authward's endpoints goes to authward; any other to the app."""

    def __init__(self, app: ASGIApp, *, authward: AuthwardApp) -> None:
        self.app = app
        self.authward = authward

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoints = self.authward.endpoints
            # PARTIAL (the path with another method) too: authward answers 405.
            if any(route.matches(scope)[0] is not Match.NONE for route in endpoints.routes):
                await endpoints(scope, receive, send)
                return
        await self.app(scope, receive, send)
