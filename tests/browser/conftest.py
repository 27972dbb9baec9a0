"""A real browser (Debian's chromium, headless, driven by Playwright) against a real
`authward serve`, with a tiny HTTP server standing in for the client's redirect URI.

Browser tests skip with a one-line reason when /usr/bin/chromium is missing, unless
AUTHWARD_REQUIRE_SERVICES=1 (as in CI), where they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from authward.config import load_app
from authward.runtime import Authward
from authward.settings import load_settings
from tests.conftest import REQUIRE_SERVICES
from tests.e2e.serving import wait_until_answering
from tests.peers import free_port

CHROMIUM = Path("/usr/bin/chromium")
USERNAME = "grace@example.com"
PASSWORD = "a long and fine password"
CLIENT = "browser-app"
T = TypeVar("T")
#: Generous: a hang guard, not a speed check (argon2 logins on a busy CI machine take a while).
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)

APP = """
from authward import db, define_auth, define_config

user = db.type("User", {{"email": db.string().unique()}})
auth = define_auth(
    "browser-auth",
    user_profile={{"type": user, "username_field": "email"}},
    oauth2_clients={{
        "{client}": {{
            "redirect_uris": ["{catcher}/cb"],
            "description": "A client in a browser test",
            "post_logout_redirect_uris": ["{catcher}/bye"],
        }},
    }},
)
config = define_config(auth=auth, db=[user])
"""


@dataclass
class Catcher:
    """The client's side: records every request the browser makes to it."""

    url: str
    paths: list[str] = field(default_factory=list)
    #: Served at /framed: a page of another origin that frames authward's login page.
    frame_target: str = ""


def _handler(catcher: Catcher) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            catcher.paths.append(self.path)
            if self.path == "/framed":
                body = (
                    f'<!doctype html><iframe id="mine" src="/inner"></iframe>'
                    f'<iframe id="theirs" src="{catcher.frame_target}"></iframe>'
                )
            elif self.path == "/inner":
                body = "<!doctype html><p id='inner'>framed fine</p>"
            else:
                body = "<!doctype html><p>client got it</p>"
            data = body.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion. In its own thread: Playwright's sync API keeps an event loop
    running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="module")
def catcher() -> Iterator[Catcher]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Catcher("")))
    port = server.server_address[1]
    caught = Catcher(f"http://127.0.0.1:{port}")
    server.RequestHandlerClass = _handler(caught)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield caught
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass(frozen=True)
class Served:
    url: str
    client_id: str
    client_secret: str


@asynccontextmanager
async def opened_with_user(app: Path, database_url: str, key_file: Path) -> AsyncIterator[Authward]:
    """``app``'s store, migrated, with the user USERNAME / PASSWORD in it."""
    # load_app puts the app's folder first on sys.path for good: undo it, or a later
    # `from app import ...` elsewhere in the suite would find this test's app.
    saved = list(sys.path)
    try:
        config, _ = load_app(app)
    finally:
        sys.path[:] = saved
    aw = await Authward.open(
        config, load_settings(database_url=database_url, key_file=key_file), migrate=True
    )
    try:
        await aw.users.create(USERNAME, PASSWORD)
        yield aw
    finally:
        await aw.close()


async def add_user(app: Path, database_url: str, key_file: Path) -> None:
    async with opened_with_user(app, database_url, key_file):
        pass


async def _prepare(app: Path, database_url: str, key_file: Path) -> tuple[str, str]:
    async with opened_with_user(app, database_url, key_file) as aw:
        client = await aw.clients.get(CLIENT)
        secret = await aw.clients.client_secret(CLIENT)
        assert client is not None
        assert secret is not None
        return client.client_id, secret.get_secret_value()


@contextmanager
def serving(app: Path, database_url: str, key_file: Path, **settings: str) -> Iterator[str]:
    """`authward serve --app app` in the app's folder on a free port, with no AUTHWARD_* settings
    but these; yields its URL once /healthz answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    env.update(
        AUTHWARD_PORT=str(port),
        AUTHWARD_DATABASE_URL=database_url,
        AUTHWARD_KEY_FILE=str(key_file),
        **{f"AUTHWARD_{name.upper()}": value for name, value in settings.items()},
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "authward", "serve", "--app", str(app)],
        cwd=app.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(proc, url, proc.stderr.read)  # type: ignore[union-attr]
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, catcher: Catcher) -> Iterator[Served]:
    """`authward serve` on SQLite, with one user and one client whose redirect URI is the
    catcher's (shared by a module's tests: each test opens its own browser context)."""
    tmp_path = tmp_path_factory.mktemp("served")
    app = tmp_path / "browser_app.py"
    app.write_text(APP.format(client=CLIENT, catcher=catcher.url))
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    key_file = tmp_path / "authward.key"
    client_id, secret = run_async(_prepare(app, database_url, key_file))
    with serving(app, database_url, key_file) as url:
        yield Served(url, client_id, secret)


def sign_in(page: Page) -> None:
    """Sign in as USERNAME on the login page ``page`` shows."""
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Playwright's sync API keeps an event loop running in this thread while it is open, so no
    asyncio test may run meanwhile: the browser lives for one module only, and fixtures set up
    after it must use :func:`run_async`, not ``asyncio.run``."""
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(problem + " (AUTHWARD_REQUIRE_SERVICES=1)")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()
