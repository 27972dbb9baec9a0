"""The official MCP SDK's OAuth client (``OAuthClientProvider``, unmodified) against
examples/mcp_server.py under a real `authward serve`: 401 -> protected resource metadata ->
authorization server metadata -> the client identifies itself -> PKCE authorization with a real
browser sign-in (Playwright driving Debian's chromium) -> token with ``resource`` -> ``whoami``
returns the principal. Once with dynamic registration (on SQLite), once with a client ID metadata
document served over https on loopback by a test certificate authority (on PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from playwright.async_api import Page, async_playwright, expect

from tests.browser.conftest import CHROMIUM, TIMEOUT_MS, Catcher
from tests.conftest import REQUIRE_SERVICES
from tests.e2e.mcp_support import ADMIN, PASSWORD, prepare, serving, write_app
from tests.https_documents import DocumentServer


class Storage:
    """The SDK client's token storage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


class Browser:
    """The user's side: signs in and allows, then hands the client what reached its callback."""

    def __init__(self, page: Page, catcher: Catcher) -> None:
        self.page = page
        self.catcher = catcher
        self.answer: asyncio.Future[AuthorizationCodeResult] = (
            asyncio.get_running_loop().create_future()
        )
        self.consent = ""

    async def visit(self, authorization_url: str) -> None:
        page = self.page
        assert "resource=" in authorization_url
        await page.goto(authorization_url)
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await page.fill("input[name=username]", ADMIN)
        await page.fill("input[name=password]", PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        allow = page.get_by_role("button", name="Allow")
        await expect(allow).to_be_visible()
        self.consent = await page.content()
        await allow.click()
        await page.wait_for_url(re.compile(re.escape(self.catcher.url) + r"/cb\?"))
        query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
        self.answer.set_result(
            AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query["iss"])
        )

    async def callback(self) -> AuthorizationCodeResult:
        return await self.answer


def _need_chromium() -> None:
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(problem + " (AUTHWARD_REQUIRE_SERVICES=1)")
        pytest.skip(problem)


async def _whoami_after_sign_in(
    url: str, catcher: Catcher, ids: dict[str, str], client_metadata_url: str | None = None
) -> tuple[Storage, str]:
    """The SDK's client calls whoami, signing ADMIN in when the server asks; returns its storage
    and the consent page it went through."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = await chromium.new_context(java_script_enabled=False)
        context.set_default_timeout(TIMEOUT_MS)
        user = Browser(await context.new_page(), catcher)
        storage = Storage()
        provider = OAuthClientProvider(
            server_url=f"{url}/mcp",
            client_metadata=OAuthClientMetadata(
                client_name="The SDK's test client",
                redirect_uris=[f"{catcher.url}/cb"],  # type: ignore[list-item]
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=user.visit,
            callback_handler=user.callback,
            client_metadata_url=client_metadata_url,
        )
        async with (
            httpx2.AsyncClient(auth=provider) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
        ):
            who = await client.call_tool("whoami", {})
            assert who.structured_content == {"username": ADMIN, "principal_id": ids[ADMIN]}
            audit = await client.call_tool("audit_summary", {})
            assert not audit.is_error
        await chromium.close()
    assert storage.tokens is not None
    claims = _claims(storage.tokens.access_token)
    assert claims["aud"] == f"{url}/mcp"  # the token is for this MCP server alone
    assert claims["sub"] == ids[ADMIN]
    assert "mcp:tools" in claims["scope"].split()
    return storage, user.consent


async def test_dynamic_registration_and_a_browser_sign_in(tmp_path: Path, catcher: Catcher) -> None:
    _need_chromium()
    app = write_app(tmp_path)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    key_file = tmp_path / "authward.key"
    _, ids = await prepare(app, database_url, key_file)
    with serving(app, database_url, key_file) as url:
        storage, consent = await _whoami_after_sign_in(url, catcher, ids)
    # Registered by the client itself (RFC 7591), and named on the consent page.
    assert storage.client is not None
    assert storage.client.client_id.startswith("awr_")  # a registered client's id
    assert storage.client.client_secret is None  # public, with PKCE
    assert "The SDK&#39;s test client" in consent or "The SDK's test client" in consent


async def test_a_client_id_metadata_document_and_a_browser_sign_in(
    tmp_path: Path, catcher: Catcher, postgres_url: str
) -> None:
    _need_chromium()
    app = write_app(tmp_path)
    key_file = tmp_path / "authward.key"
    _, ids = await prepare(app, postgres_url, key_file)
    async with DocumentServer(tmp_path) as documents:
        client_id = documents.url("/mcp-client.json")
        documents.json(
            "/mcp-client.json",
            {
                "client_id": client_id,
                "client_name": "A client known by its URL",
                "redirect_uris": [f"{catcher.url}/cb"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            },
            cache_control="max-age=300",
        )
        # authward's fetcher trusts the test CA and may reach loopback (development settings).
        loopback = {
            "client_metadata_allow_loopback": "true",
            "client_metadata_ca_bundle": str(documents.ca_bundle),
        }
        with serving(app, postgres_url, key_file, **loopback) as url:
            storage, consent = await _whoami_after_sign_in(
                url, catcher, ids, client_metadata_url=client_id
            )
        assert documents.requests["/mcp-client.json"] >= 1
    # No registration: the client's id is its document's URL.
    assert storage.client is not None
    assert storage.client.client_id == client_id
    assert "A client known by its URL" in consent
