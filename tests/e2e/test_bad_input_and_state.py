"""`authward serve` and the CLI against bad input and bad state: a corrupt or locked SQLite
file is one line naming it and exit 1, the SQLite files are private (0600), headers over the cap
get 431, and a client that leaves in the middle of its body is nothing to log."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLE_APP
from tests.e2e.serving import wait_until_answering
from tests.e2e.test_serve_and_cli import AUTHWARD, cli, free_port

#: Holds SQLite's write lock on a database until its standard input closes.
LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("CREATE TABLE IF NOT EXISTS held (x)")
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def env(workdir: Path) -> dict[str, str]:
    return environment(workdir)


def environment(workdir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    return {
        **clean,
        "AUTHWARD_PORT": str(free_port()),
        "AUTHWARD_DATABASE_URL": f"sqlite:///{workdir / 'authward.db'}",
        "AUTHWARD_KEY_FILE": str(workdir / "authward.key"),
    }


@dataclass(frozen=True)
class Served:
    url: str
    workdir: Path
    env: dict[str, str]
    #: What the server has written to stderr so far.
    stderr: Path


def running(workdir: Path, env: dict[str, str]) -> Iterator[Served]:
    stderr = workdir / f"serve-{env['AUTHWARD_PORT']}.err"
    with stderr.open("w") as sink:
        proc = subprocess.Popen(
            [*AUTHWARD, "serve", "--app", "app.py"],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            text=True,
        )
    url = f"http://127.0.0.1:{env['AUTHWARD_PORT']}"
    try:
        wait_until_answering(proc, url, stderr.read_text)
        yield Served(url, workdir, env, stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `authward serve` of the example app for the module's tests that only send to it."""
    workdir = tmp_path_factory.mktemp("served")
    shutil.copy(EXAMPLE_APP, workdir / "app.py")
    yield from running(workdir, environment(workdir))


def assert_one_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


COMMANDS = [
    ["serve", "--app", "app.py", "--port", "0"],
    ["migrate", "--app", "app.py"],
    ["oauth2client", "list", "--app", "app.py"],
]


def test_a_corrupt_database_is_one_line_naming_it(workdir: Path, env: dict[str, str]) -> None:
    cli(["migrate", "--app", "app.py"], workdir, env)
    database = workdir / "authward.db"
    # Pages past the header destroyed: SQLite opens the file, then finds it malformed.
    with database.open("r+b") as f:
        f.seek(4096 * 2)
        f.write(os.urandom(4096 * 4))
    for command in COMMANDS:
        result = cli(command, workdir, env, check=False)
        assert_one_line(result, str(database), "database disk image is malformed")

    database.write_bytes(os.urandom(8192))
    result = cli(COMMANDS[0], workdir, env, check=False)
    assert_one_line(result, str(database), "file is not a database")


def test_a_database_locked_by_another_process_is_one_line(
    workdir: Path, env: dict[str, str]
) -> None:
    # A store in use (WAL mode): the lock is met by the migration's write, not at connect.
    cli(["migrate", "--app", "app.py"], workdir, env)
    database = workdir / "authward.db"
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        # serve migrates and syncs the config first: it waits out SQLite's busy timeout.
        result = cli(COMMANDS[0], workdir, env, check=False)
    finally:
        locker.communicate("", timeout=10)
    assert_one_line(result, str(database), "database is locked")


def test_the_sqlite_files_are_private(server: Served) -> None:
    assert httpx.get(server.url + "/.well-known/jwks.json").status_code == 200
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in server.workdir.glob("authward.*")}
    # The -wal and -shm files exist while the server has the database open.
    assert files == {
        "authward.db": 0o600,
        "authward.db-wal": 0o600,
        "authward.db-shm": 0o600,
        "authward.key": 0o600,
    }


def raw_request(url: str, head: str, body: bytes = b"") -> bytes:
    """Send ``head`` and ``body`` over a socket of our own and return what comes back first."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        return s.recv(4096)


def test_headers_over_the_cap_get_431(server: Served) -> None:
    url = server.url
    # httpx adds its own few headers: the cap is 16384 bytes of header lines in all.
    fits = httpx.get(url + "/healthz", headers={"x-filler": "a" * 15_000})
    assert fits.status_code == 200
    too_big = httpx.get(url + "/healthz", headers={"x-filler": "a" * 16_400})
    assert too_big.status_code == 431
    assert too_big.json()["error"] == "invalid_request"
    # Many small headers count together.
    many = httpx.get(
        url + "/.well-known/jwks.json", headers={f"x-h{i}": "b" * 100 for i in range(200)}
    )
    assert many.status_code == 431
    # Over the cap on a route that needs credentials: refused before any route runs.
    answer = raw_request(
        url,
        f"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nX-Filler: {'c' * 17_000}\r\n"
        "Content-Length: 0\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 431 ")

    # A setting moves the cap.
    wider = {**server.env, "AUTHWARD_PORT": str(free_port()), "AUTHWARD_MAX_HEADER_BYTES": "32768"}
    for other in running(server.workdir, wider):
        assert (
            httpx.get(other.url + "/healthz", headers={"x-filler": "a" * 16_400}).status_code == 200
        )
        assert (
            httpx.get(other.url + "/healthz", headers={"x-filler": "a" * 33_000}).status_code == 431
        )


def test_a_client_that_leaves_mid_body_is_not_an_error(server: Served) -> None:
    url = server.url
    paths = ["/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/login", "/consent"]
    for path in paths:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
                "grant_type=client_cre".encode()
            )
            time.sleep(0.2)  # the route is reading the body when the client goes
    # Served after those: uvicorn had written whatever it logs about them.
    assert httpx.get(url + "/healthz").status_code == 200
    stderr = server.stderr.read_text()
    assert "Traceback" not in stderr, stderr
    assert "ClientDisconnect" not in stderr, stderr
    assert "ERROR" not in stderr, stderr
    assert '"level":"error"' not in stderr, stderr  # the JSON log lines (the default format)
