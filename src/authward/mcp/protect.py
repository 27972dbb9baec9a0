"""``protect``: an MCP server on the SDK's streamable HTTP transport, behind authward.

    def mounts(aw: Authward) -> dict[str, ASGIApp]:          # in the app file
        return {"/mcp": protect(mcp, aw, resource="mcp")}

The resource is one of ``define_auth(resource_servers=...)``; the endpoint is served at its
URL's path. Every request passes authward's chain with an entry bound to that resource: a
token issued for another resource (or for none) is refused, and every refusal points the client
at the resource's metadata (RFC 9728), which is how the MCP client finds authward.
"""

from __future__ import annotations

__all__ = ["McpHost", "protect"]

from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from mcp.server.mcpserver import MCPServer as SdkMCPServer
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
from starlette.types import ASGIApp

from authward.channel.authenticate import TokenType
from authward.channel.chain import AuthFn
from authward.channel.middleware import AuthMiddleware
from authward.errors import ConfigError, ConfigIssue
from authward.mcp.gate import McpGate
from authward.mcp.server import MCPServer
from authward.oauth.resources import Resource


class McpHost(Protocol):
    """What :func:`protect` uses of the open runtime (``aw``)."""

    issuer: str

    def resource(self, resource: str) -> Resource: ...

    def tokens_entry(
        self, *, accepts_token: Sequence[TokenType] = ..., resource: str | None = ...
    ) -> AuthFn: ...


def _no_scopes(_: str) -> tuple[str, ...]:
    return ()


def protect(
    server: SdkMCPServer[Any],
    aw: McpHost,
    *,
    resource: str,
    accepts_token: Sequence[TokenType] = ("oauth_token",),
    stateless_http: bool = False,
    json_response: bool = False,
    max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
) -> ASGIApp:
    """``server``'s streamable HTTP endpoint, served at the path of ``resource`` (a declared
    resource server's name or URL) for callers authward accepts for that resource.

    Tools read the caller with ``current_principal()`` / ``current_auth()`` and are guarded with
    ``@requires``. With :class:`authward.mcp.MCPServer` (rather than the SDK's own class), a call
    to a tool whose ``@requires(scope=...)`` the token lacks is answered 403 with the step-up
    challenge, and other refusals come back as tool errors naming what is missing."""
    found = aw.resource(resource)
    url = urlsplit(found.url)
    path = url.path.rstrip("/")
    if not path:
        raise ConfigError(
            [ConfigIssue("protect(resource=...)", f"{found.url!r} needs a path, such as /mcp")]
        )
    # The SDK's DNS-rebinding guard: the Host and Origin a client of this resource sends.
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[url.netloc],
        allowed_origins=[f"{url.scheme}://{url.netloc}"],
    )
    app = server.streamable_http_app(
        streamable_http_path=path,
        stateless_http=stateless_http,
        json_response=json_response,
        max_request_body_size=max_request_body_size,
        transport_security=security,
    )
    gate = McpGate(
        app,
        tool_scopes=server.tool_scopes if isinstance(server, MCPServer) else _no_scopes,
        issuer=aw.issuer,
        resource=found.url,
        max_body_bytes=max_request_body_size,
    )
    entry = aw.tokens_entry(accepts_token=accepts_token, resource=found.name)
    return AuthMiddleware(gate, auth=[entry])
