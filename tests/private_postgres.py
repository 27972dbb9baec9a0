"""A PostgreSQL server of a test's own, for faults that must not touch the shared one: initdb into
a scratch directory, then ``pg_ctl`` start / stop / start on a free port.

initdb refuses to run as root, so as root the server runs as the ``postgres`` OS user (through
``runuser``) in a directory that user owns. When the binaries are missing the fixture skips
with one line, unless AUTHWARD_REQUIRE_SERVICES=1, where it fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    # Debian puts the server binaries outside PATH; the newest installed version wins.
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivatePostgres:
    def __init__(self, bin_dir: Path, root: Path, as_user: list[str]) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = _free_port()
        self._as_user = as_user

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as_user, str(self.bin_dir / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{tool} {args[:1]} failed: {done.stderr or done.stdout}\n{log}")

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """What a restart does to clients: every connection cut, new ones refused until start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def _problem() -> tuple[str | None, Path | None, list[str]]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found", None, []
    if os.geteuid() != 0:
        return None, bin_dir, []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "running as root and there is no postgres OS user for initdb", None, []
    if shutil.which("runuser") is None:
        return "running as root and runuser is missing (initdb refuses root)", None, []
    return None, bin_dir, ["runuser", "-u", "postgres", "--"]


def private_postgres() -> Iterator[PrivatePostgres]:
    """A started server of the calling test's own, stopped and deleted afterwards (a fixture
    yields from it)."""
    problem, bin_dir, as_user = _problem()
    if problem or bin_dir is None:
        reason = problem or "no PostgreSQL binaries"
        if REQUIRE_SERVICES:
            pytest.fail(reason + " (AUTHWARD_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    # Not pytest's tmp_path: its parents are private to root, and the server may run as postgres.
    root = Path(tempfile.mkdtemp(prefix="authward-pg-"))
    if as_user:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    server = PrivatePostgres(bin_dir, root, as_user)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if (server.data / "postmaster.pid").exists():
            subprocess.run(
                [
                    *as_user,
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(server.data),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
