"""Connecting a third-party account in a real browser: sign in, click Connect on /connections,
pass through the provider (tests/peers/oauth_provider.py, which approves at once) and come back
to the page showing the account connected. Chromium applies the page's ``form-action`` to every
redirect after the form's submission, so this fails if the provider's origin is not allowed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import TIMEOUT_MS, add_user, run_async, serving, sign_in
from tests.peers import free_port
from tests.peers.asgi import serve_asgi
from tests.peers.oauth_provider import OAuthProvider

CLIENT_ID = "acme-client"
CLIENT_SECRET = "acme-client-secret-acme-client-secret"

APP = """
from authward import connection, db, define_auth, define_config

user = db.type("User", {{"email": db.string().unique()}})
auth = define_auth(
    "connect-auth",
    user_profile={{"type": user, "username_field": "email"}},
    connections=[
        connection.oauth(
            "acme",
            authorize_url="{base}/authorize",
            token_url="{base}/token",
            revocation_url="{base}/revoke",
            scopes=["read"],
            client_id="{client_id}",
            client_secret="{client_secret}",
            display_name="Acme",
        )
    ],
)
config = define_config(auth=auth, db=[user])
"""


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[OAuthProvider, str]]:
    """The provider served from a thread of its own (Playwright's sync API holds this one)."""
    peer = OAuthProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, require_pkce=True)
    port = free_port()
    stop = threading.Event()
    started = threading.Event()

    async def serve() -> None:
        async with serve_asgi(peer.app, port=port):
            started.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30), "the test OAuth provider did not start"
    yield peer, f"http://127.0.0.1:{port}"
    stop.set()
    thread.join(10)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, provider: tuple[OAuthProvider, str]
) -> Iterator[str]:
    """`authward serve` with one user and the provider as the connection ``oauth_acme``."""
    tmp_path = tmp_path_factory.mktemp("connect")
    app = tmp_path / "connect_app.py"
    app.write_text(APP.format(base=provider[1], client_id=CLIENT_ID, client_secret=CLIENT_SECRET))
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    key_file = tmp_path / "authward.key"
    run_async(add_user(app, database_url, key_file))
    with serving(app, database_url, key_file) as url:
        yield url


def test_connect_an_account_through_the_provider(
    chromium: Browser, site: str, provider: tuple[OAuthProvider, str]
) -> None:
    peer, base = provider
    context = chromium.new_context(java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{site}/connections")
    sign_in(page)
    page.wait_for_url(f"{site}/connections")
    expect(page.get_by_text("Acme not connected")).to_be_visible()

    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_url(f"{site}/connections?connected=oauth_acme")
    expect(page.get_by_role("status")).to_have_text("Connected Acme.")
    expect(page.get_by_text("Acme connected as U-PEER-1")).to_be_visible()
    # The browser really went through the provider, which redeemed one code.
    assert [r["redirect_uri"] for r in peer.authorize_requests] == [
        f"{site}/connections/oauth_acme/callback"
    ]
    assert peer.token_hits["authorization_code"] == 1
    assert peer.access_tokens

    # The page still shows it after a reload, with Disconnect instead of Connect. Its policy
    # stays strict: no script, and forms may lead only here and to the provider.
    response = page.goto(f"{site}/connections")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert f"form-action 'self' {base};" in csp
    expect(page.get_by_text("Acme connected as U-PEER-1")).to_be_visible()
    expect(page.get_by_role("button", name="Disconnect")).to_be_visible()
    expect(page.get_by_role("button", name="Connect", exact=True)).to_have_count(0)
    context.close()
