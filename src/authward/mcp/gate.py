"""The HTTP side of a protected MCP endpoint, behind authward's chain (which has accepted the
caller by then): the SDK's view of the caller, and the step-up challenge for a tool call whose
token lacks the tool's scopes (MCP authorization, "scope challenge handling": 403 with
``WWW-Authenticate: Bearer error="insufficient_scope", scope="..."``)."""

from __future__ import annotations

__all__ = ["McpGate", "access_token_of"]

import json
from collections.abc import Callable
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authward.errors import Forbidden
from authward.principal import Principal, current_principal

ToolScopes = Callable[[str], tuple[str, ...]]


def _held_scopes(principal: Principal) -> tuple[str, ...]:
    held = principal.attributes.get("scopes", ())
    if isinstance(held, str):
        return tuple(held.split())
    if isinstance(held, bool):
        return ()
    return tuple(s for s in held if isinstance(s, str))


def access_token_of(principal: Principal, *, token: str, issuer: str, resource: str) -> AccessToken:
    """The SDK's ``AccessToken`` for a principal authward accepted: the SDK ties each session to
    its ``client_id``, ``iss`` and ``sub``, so another caller cannot use it."""
    client_id = principal.attributes.get("clientId")
    return AccessToken(
        token=token,
        client_id=client_id if isinstance(client_id, str) else principal.principal_id,
        scopes=list(_held_scopes(principal)),
        resource=resource,
        subject=principal.subject,
        claims={"iss": issuer},
    )


def _bearer(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            _, _, token = bytes(value).decode("latin-1").partition(" ")
            return token.strip()
    return ""


def _called_tools(body: bytes) -> list[str]:
    """The tools a JSON-RPC message (or batch) calls; none when it is not one."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return []
    messages = parsed if isinstance(parsed, list) else [parsed]
    names = []
    for message in messages:
        if isinstance(message, dict) and message.get("method") == "tools/call":
            params = message.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            if isinstance(name, str):
                names.append(name)
    return names


class McpGate:
    """Between authward's chain and the SDK's streamable HTTP app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tool_scopes: ToolScopes,
        issuer: str,
        resource: str,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.tool_scopes = tool_scopes
        self.issuer = issuer
        self.resource = resource
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = current_principal()
        if scope["type"] != "http" or principal is None:
            await self.app(scope, receive, send)
            return
        scope["user"] = AuthenticatedUser(
            access_token_of(
                principal, token=_bearer(scope), issuer=self.issuer, resource=self.resource
            )
        )
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks, more = await self._read(receive)
        if not more:
            self._check_scopes(principal, b"".join(chunks))
        await self.app(scope, _replay(chunks, more, receive), send)

    async def _read(self, receive: Receive) -> tuple[list[bytes], bool]:
        """The body's chunks, up to ``max_body_bytes`` (past it the SDK refuses the request);
        ``True`` when more remains to be received."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return chunks, False
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                return chunks, False
            if size > self.max_body_bytes:
                return chunks, True

    def _check_scopes(self, principal: Principal, body: bytes) -> None:
        held = set(_held_scopes(principal))
        for tool in _called_tools(body):
            needed = self.tool_scopes(tool)
            missing = [s for s in needed if s not in held]
            if missing:
                # Step-up: the scopes this call needs; the SDK's client adds those it holds.
                raise Forbidden(
                    f"tool {tool!r} requires scope {', '.join(missing)}",
                    missing=tuple(f"scope {s!r}" for s in missing),
                    scopes=tuple(missing),
                )


def _replay(chunks: list[bytes], more: bool, receive: Receive) -> Receive:
    """``receive``, giving back the chunks already read first."""
    pending = list(chunks)

    async def replayed() -> Message:
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending) or more}
        return await receive()

    return replayed
