"""What the MCP tests share: examples/mcp_server.py served by a real `authward serve`, on SQLite
or PostgreSQL, with two users and a machine user, and the official SDK's client."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from authward.config import load_app
from authward.runtime import Authward
from authward.settings import load_settings
from authward.tokens.access_token import AccessTokenClaims, sign_access_token
from tests.e2e.serving import wait_until_answering
from tests.peers import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mcp_server.py"
ADMIN = "ada@example.com"
READER = "bob@example.com"
PASSWORD = "a long and fine password"
REPORTS = "https://reports.example.com/api"
TESTER_REDIRECT = "http://127.0.0.1:9/cb"
_DECLARED = '    resource_servers={"mcp": {"url": "/mcp", "scopes": ["mcp:tools", "mcp:admin"]}},\n'


def write_app(folder: Path) -> Path:
    """The example, plus a second resource server and a machine user for the token tests."""
    text = EXAMPLE.read_text()
    assert _DECLARED in text, "the example's resource_servers line changed: update this test"
    more = _DECLARED.replace(
        '"mcp:admin"]}},', f'"mcp:admin"]}}, "reports": {{"url": "{REPORTS}"}}}},'
    )
    more += '    machine_users={"robot": {"attributes": {"role": "USER"}}},\n'
    tester = f'{{"redirect_uris": ["{TESTER_REDIRECT}"], "public": True}}'
    more += f'    oauth2_clients={{"tester": {tester}}},\n'
    app = folder / "mcp_server.py"
    app.write_text(text.replace(_DECLARED, more))
    return app


@dataclass(frozen=True)
class Served:
    url: str
    robot: tuple[str, str]
    user_ids: dict[str, str]
    #: (username, scope) -> an access token for the MCP resource, as the tester client
    user_tokens: dict[tuple[str, str], str]

    @property
    def mcp(self) -> str:
        return f"{self.url}/mcp"


async def prepare(
    app: Path, database_url: str, key_file: Path
) -> tuple[tuple[str, str], dict[str, str]]:
    """Migrate the store, add the two users, and return the robot's credentials and user ids."""
    saved = list(sys.path)
    try:
        config, _ = load_app(app)
    finally:
        sys.path[:] = saved
    settings = load_settings(database_url=database_url, key_file=key_file)
    aw = await Authward.open(config, settings, migrate=True)
    try:
        ids = {}
        for username, role in ((ADMIN, "ADMIN"), (READER, "USER")):
            account = await aw.users.create(username, PASSWORD, profile={"role": role})
            ids[username] = str(account.id)
        robot = await aw.machine_users.get("robot")
        secret = await aw.machine_users.client_secret("robot")
        assert robot is not None
        assert secret is not None
        return (robot.client_id, secret.get_secret_value()), ids
    finally:
        await aw.close()


@contextmanager
def serving(app: Path, database_url: str, key_file: Path, **settings: str) -> Iterator[str]:
    """`authward serve --app app` on a free port with only these AUTHWARD_* settings; stops it
    after, failing if it wrote a traceback."""
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
        wait_until_answering(proc, url, lambda: proc.communicate(timeout=30)[1])
        yield url
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
        assert "Traceback" not in stderr, stderr


async def user_tokens(
    app: Path, database_url: str, key_file: Path, url: str, wanted: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Access tokens for the MCP resource, acting for users through the `tester` client, signed
    in this process with the served store's key (what the code flow would issue)."""
    saved = list(sys.path)
    try:
        config, _ = load_app(app)
    finally:
        sys.path[:] = saved
    port = int(url.rsplit(":", 1)[1])
    settings = load_settings(database_url=database_url, key_file=key_file, port=port)
    aw = await Authward.open(config, settings, migrate=False, sync=False)
    try:
        client = await aw.clients.get("tester")
        assert client is not None
        signer = await aw.signing_keys.signer()
        tokens = {}
        now = int(time.time())
        for username, scope in wanted:
            account = await aw.users.find(username)
            assert account is not None
            claims = AccessTokenClaims(
                issuer=aw.issuer,
                subject=str(account.id),
                audience=f"{url}/mcp",
                client_id=client.client_id,
                issued_at=now,
                expires_at=now + 600,
                attribute_map={"role": "ADMIN" if username == ADMIN else "USER"},
                attributes=[],
                scope=scope or None,
            )
            tokens[username, scope] = sign_access_token(signer, claims.to_jwt_claims())
        return tokens
    finally:
        await aw.close()


def machine_token(served: Served, **form: str) -> str:
    """The robot's token from the served token endpoint (client_credentials)."""
    response = httpx.post(
        f"{served.url}/oauth2/token",
        data={"grant_type": "client_credentials", **form},
        auth=served.robot,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
