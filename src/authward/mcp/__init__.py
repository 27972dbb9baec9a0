"""MCP servers behind authward, on the official SDK (``mcp`` 2.x; docs/mcp.md).

from authward.agents import current_auth, requires
from authward.mcp import MCPServer, protect

mcp = MCPServer("reports")

@mcp.tool()
@requires(scope="reports:read")
def whoami() -> str:
    return current_auth().subject

def mounts(aw):                                    # `authward serve` mounts it at /mcp
    return {"/mcp": protect(mcp, aw, resource="mcp")}

MCPServer               the SDK's MCPServer, knowing each tool's @requires scopes; a
                        refusal comes back as a tool error naming what is missing;
                        instructions may be a function of the caller's Principal
protect(server, aw, resource=...)
                        the streamable HTTP endpoint behind authward's chain, bound to a
                        declared resource server (RFC 8707 / RFC 9728 challenges)
AuthwardTokenVerifier   the SDK's TokenVerifier, for a server on the SDK's own auth
"""

import importlib.util

from authward.errors import MissingExtra

if importlib.util.find_spec("mcp") is None:
    raise MissingExtra("mcp", "authward.mcp")

from authward.mcp.protect import McpHost, protect
from authward.mcp.server import Instructions, MCPServer
from authward.mcp.verifier import AuthwardTokenVerifier, PrincipalAccessToken

__all__ = [
    "AuthwardTokenVerifier",
    "Instructions",
    "MCPServer",
    "McpHost",
    "PrincipalAccessToken",
    "protect",
]
