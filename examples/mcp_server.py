"""An MCP server behind authward, on the official MCP SDK (docs/mcp.md).

    authward serve --app examples/mcp_server.py

serves, beside authward's endpoints, the MCP endpoint at /mcp of the served URL
(http://127.0.0.1:8000/mcp by default; on another --port, that port), its protected resource
metadata at /.well-known/oauth-protected-resource/mcp, and dynamic client registration without
an initial access token. Any MCP client with OAuth support (the SDK's own, an assistant) finds
its way from the first 401. Without AUTHWARD_DATABASE_URL it keeps its data in
./authward-mcp_server.db; sign in as a user you create with

    echo 'correct horse battery staple' | authward user create --username ada@example.com \\
        --password-stdin --attribute role=ADMIN --app examples/mcp_server.py
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authward import DynamicRegistration, Principal, db, define_auth, define_config
from authward.agents import current_auth, describe_principal, requires
from authward.mcp import MCPServer, protect

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from authward.runtime import Authward

user = db.type(
    "User",
    {"email": db.string().unique(), "role": db.enum(["ADMIN", "USER"]).optional()},
)
auth = define_auth(
    "mcp-example",
    user_profile={"type": user, "username_field": "email", "attributes": {"role": True}},
    # A path: the resource is /mcp on whatever URL `serve` listens on (RFC 8707 identifier).
    resource_servers={"mcp": {"url": "/mcp", "scopes": ["mcp:tools", "mcp:admin"]}},
    # Clients that have never met this server register themselves (RFC 7591).
    dynamic_registration=DynamicRegistration(initial_access_token=None),
)
config = define_config(auth=auth, db=[user])


def instructions(principal: Principal | None) -> str:
    """What the assistant is told when it connects, written for the caller."""
    text = "You answer questions about the signed-in user's account."
    if principal is not None and principal.attributes.get("role") == "ADMIN":
        text += " The user is an administrator and may read the audit summary."
    return text if principal is None else f"{text} {describe_principal(principal)}"


#: The open runtime, once `serve` has opened it (see mounts below).
runtime: Authward | None = None


mcp = MCPServer("authward-example", instructions=instructions)


@mcp.tool()
@requires(scope="mcp:tools")
async def whoami() -> dict[str, str | None]:
    """Who is calling: the signed-in user's username and principal id."""
    principal = current_auth()
    account = await runtime.users.get(principal.subject) if runtime else None
    username = account.username if account else None
    return {"username": username, "principal_id": principal.principal_id}


@mcp.tool()
@requires(scope="mcp:tools", role="ADMIN")
def audit_summary() -> str:
    """Administrators only: a summary of the audit log."""
    return "no incidents this week"


@mcp.prompt()
def greeting() -> str:
    """A prompt that greets the caller by their attributes."""
    return f"Greet the user. {describe_principal(current_auth())}"


def mounts(aw: Authward) -> dict[str, ASGIApp]:
    """`authward serve` mounts each at its path (decision 050)."""
    global runtime
    runtime = aw
    return {"/mcp": protect(mcp, aw, resource="mcp")}
