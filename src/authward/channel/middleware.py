"""``AuthMiddleware``: run the chain for every HTTP request of an ASGI app.

The accepted principal is put on ``request.state.auth`` and in the context variable
(``authward.current_principal()``) for the request's lifetime, so handlers, agent tools and
anything they start read the same answer.
"""

from __future__ import annotations

__all__ = ["AuthMiddleware"]

from collections.abc import Awaitable, Sequence

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authward.channel.chain import AuthChainFailure, AuthFn, protected_resource, run_chain
from authward.channel.responses import (
    error_response,
    forbidden_response,
    server_error_response,
)
from authward.errors import Forbidden, UnauthenticatedError
from authward.observability.tracing import identify
from authward.principal import use_principal


def _app_path(scope: Scope) -> str:
    """The path as the wrapped app sees it: under a ``Mount``, without the mount's prefix."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        auth: Sequence[AuthFn],
        public_paths: Sequence[str] = (),
        realm: str = "authward",
    ) -> None:
        if not auth:
            raise ValueError("AuthMiddleware needs at least one AuthFn")
        self.app = app
        self.auth = tuple(auth)
        self.public_paths = frozenset(public_paths)
        self.realm = realm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _app_path(scope) in self.public_paths:
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope, receive)
        try:
            principal = await run_chain(self.auth, connection)
        except UnauthenticatedError as exc:
            had = any(k.lower() in (b"authorization", b"cookie") for k, _ in scope["headers"])
            await error_response(
                exc,
                had_credentials=had,
                realm=self.realm,
                resource_metadata=protected_resource(scope),
            )(scope, receive, send)
            return
        except AuthChainFailure:
            await server_error_response()(scope, receive, send)
            return
        scope.setdefault("state", {})["auth"] = principal
        if principal is not None:
            identify(principal_id=principal.principal_id)  # on the request's span, if traced
        started = False

        def tracking_send(message: Message) -> Awaitable[None]:
            # Not a coroutine itself: it hands back send's, so a message costs no extra frame.
            nonlocal started
            started = started or message["type"] == "http.response.start"
            return send(message)

        with use_principal(principal):
            try:
                await self.app(scope, receive, tracking_send)
            except Forbidden as exc:
                # A tool or handler refused (``@requires``): 403, unless the answer has begun.
                if started:
                    raise
                metadata = protected_resource(scope)
                await forbidden_response(exc, realm=self.realm, resource_metadata=metadata)(
                    scope, receive, send
                )
