"""authward.mcp's gate between the chain and the SDK: the body it reads for the step-up check
reaches the SDK unchanged (however large, whatever it holds), and a tools/call whose token lacks
the tool's scopes is refused before the SDK sees it."""

from __future__ import annotations

import json

import pytest
from starlette.types import Message, Receive, Scope, Send

from authward.errors import Forbidden
from authward.mcp.gate import McpGate
from authward.principal import Principal, use_principal

READER = Principal(
    authenticator="authward",
    principal_type="machine",
    principal_id="u1",
    subject="u1",
    attributes={"scopes": ("mcp:read",), "clientId": "c1"},
)


def _scopes(tool: str) -> tuple[str, ...]:
    return {"write": ("mcp:write", "mcp:read")}.get(tool, ())


async def _through(chunks: list[bytes], limit: int = 64) -> tuple[bytes, Scope]:
    """What the SDK's app receives when ``chunks`` are POSTed through the gate."""
    got: list[bytes] = []
    seen: list[Scope] = []

    async def sdk(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        while True:
            message = await receive()
            got.append(message.get("body", b""))
            if not message.get("more_body", False):
                return

    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> Message:
        return pending.pop(0)

    async def send(_: Message) -> None:
        raise AssertionError("the gate answers nothing itself")

    gate = McpGate(
        sdk,
        tool_scopes=_scopes,
        issuer="https://as",
        resource="https://as/mcp",
        max_body_bytes=limit,
    )
    scope: Scope = {"type": "http", "method": "POST", "headers": [(b"authorization", b"Bearer t")]}
    with use_principal(READER):
        await gate(scope, receive, send)
    return b"".join(got), seen[0]


def _call(tool: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}
    ).encode()


async def test_the_body_reaches_the_sdk_unchanged() -> None:
    for chunks in ([_call("read")], [b"not json"], [b"x" * 50, b"y" * 50, b"z" * 50], [b""]):
        body, scope = await _through(chunks)
        assert body == b"".join(chunks)
    user = scope["user"]
    assert (user.access_token.client_id, user.access_token.subject) == ("c1", "u1")
    assert user.access_token.claims == {"iss": "https://as"}


async def test_a_call_lacking_the_tools_scopes_is_refused_naming_them() -> None:
    for chunks in ([_call("write")], [b"[", _call("read"), b",", _call("write"), b"]"]):
        with pytest.raises(Forbidden) as refused:
            await _through(chunks, limit=1000)
        assert refused.value.scopes == ("mcp:write",)
        assert "tool 'write' requires scope mcp:write" in str(refused.value)
    # Past the size limit nothing is parsed: the SDK refuses the request itself.
    body, _ = await _through([_call("write"), b" " * 100], limit=10)
    assert body.startswith(_call("write"))
