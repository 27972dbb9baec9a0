"""examples/mcp_server.py under a real `authward serve`, called with the official MCP SDK's client
(`mcp` 2.x), on SQLite and PostgreSQL: what discovery advertises, tokens of other resources
refused, the step-up challenge for a tool whose scope the token lacks, a tool refusing a caller
without the role it needs (a tool error naming it), and a tool reading the caller.

The whole OAuth flow with a browser sign-in is in test_mcp_oauth_flow.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import TextContent

from tests.conftest import fresh_postgres_database
from tests.e2e.mcp_support import (
    ADMIN,
    READER,
    REPORTS,
    Served,
    machine_token,
    prepare,
    serving,
    user_tokens,
    write_app,
)

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}
JSON_RPC = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("mcp")
    app = write_app(folder)
    key_file = folder / "authward.key"
    with _database(request.param, folder) as database_url:
        robot, ids = asyncio.run(prepare(app, database_url, key_file))
        with serving(app, database_url, key_file) as url:
            wanted = [(ADMIN, "mcp:tools"), (READER, "mcp:tools"), (READER, "")]
            tokens = asyncio.run(user_tokens(app, database_url, key_file, url, wanted))
            yield Served(url, robot, ids, tokens)


def _database(kind: str, folder: Path) -> Any:
    if kind == "postgresql":
        return fresh_postgres_database()
    return nullcontext(f"sqlite+aiosqlite:///{folder / 'authward.db'}")


@asynccontextmanager
async def _client(
    served: Served, token: str, seen: list[httpx2.Response] | None = None
) -> AsyncIterator[Client]:
    """The SDK's client, sending ``token``; ``seen`` collects every HTTP response."""

    async def keep(response: httpx2.Response) -> None:
        if seen is not None:
            seen.append(response)

    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, event_hooks={"response": [keep]}) as http,
        Client(streamable_http_client(served.mcp, http_client=http)) as client,
    ):
        yield client


def _text(result: Any) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


def test_discovery_starts_from_the_first_401(served: Served) -> None:
    refused = httpx.post(served.mcp, json=INITIALIZE, headers=JSON_RPC)
    assert refused.status_code == 401
    metadata_url = f"{served.url}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{metadata_url}"' in refused.headers["www-authenticate"]
    metadata = httpx.get(metadata_url).json()
    assert metadata["resource"] == served.mcp  # the port the server runs on
    assert metadata["authorization_servers"] == [served.url]
    assert metadata["scopes_supported"] == ["mcp:tools", "mcp:admin"]
    server = httpx.get(f"{served.url}/.well-known/oauth-authorization-server").json()
    assert server["issuer"] == served.url
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert server["registration_endpoint"] == f"{served.url}/oauth2/register"
    assert server["client_id_metadata_document_supported"] is True


@pytest.mark.parametrize("resource", [None, REPORTS])
def test_a_token_for_another_resource_is_refused(served: Served, resource: str | None) -> None:
    token = machine_token(served, **({"resource": resource} if resource else {}))
    refused = httpx.post(
        served.mcp, json=INITIALIZE, headers={**JSON_RPC, "Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert "resource_metadata=" in challenge


async def test_tools_read_the_caller(served: Served) -> None:
    async with _client(served, served.user_tokens[ADMIN, "mcp:tools"]) as client:
        who = await client.call_tool("whoami", {})
        assert not who.is_error, _text(who)
        assert who.structured_content == {
            "username": ADMIN,
            "principal_id": served.user_ids[ADMIN],
        }
        audit = await client.call_tool("audit_summary", {})
        assert not audit.is_error, _text(audit)
        assert _text(audit) == "no incidents this week"
        assert client.instructions is not None
        assert "The user is an administrator" in client.instructions
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"whoami", "audit_summary"}
        prompt = await client.get_prompt("greeting", {})
        assert "with role ADMIN" in str(prompt.messages[0].content)


async def test_the_admin_tool_refuses_a_caller_without_the_role(served: Served) -> None:
    async with _client(served, served.user_tokens[READER, "mcp:tools"]) as client:
        # Instructions written for this caller: a reader is not told about the audit.
        assert client.instructions is not None
        assert "administrator" not in client.instructions
        assert READER not in client.instructions
        audit = await client.call_tool("audit_summary", {})
        assert audit.is_error
        assert "requires role 'ADMIN' (principal has: USER)" in _text(audit)
        who = await client.call_tool("whoami", {})
        assert who.structured_content == {
            "username": READER,
            "principal_id": served.user_ids[READER],
        }


async def test_a_token_without_the_tools_scope_gets_the_step_up_challenge(
    served: Served,
) -> None:
    token = served.user_tokens[READER, ""]
    seen: list[httpx2.Response] = []
    async with _client(served, token, seen) as client:
        with pytest.raises(Exception):  # noqa: B017, PT011 (the SDK's error for a 403)
            await client.call_tool("whoami", {})
    step_up = seen[-1]
    assert step_up.status_code == 403
    challenge = step_up.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="mcp:tools"' in challenge
    assert f'resource_metadata="{served.url}/.well-known/oauth-protected-resource/mcp"' in challenge
