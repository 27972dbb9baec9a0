"""Authorization-server throughput: authward vs node-oidc-provider and an older authward, one run.

    .venv/bin/python bench/oauth_load.py [--seconds 8] [--rounds 3] [--connections 16 64]
        [--database sqlite|postgresql|both] [--endpoints NAME ...] [--baseline SRC]
        [--baseline-env NAME=VALUE ...]
        [--realtime PRIORITY] [--profile DIR] [--login-only] [--no-login]

Issue 3 ("Speed"), issue 14 ("Must not regress"); the method is
docs/decisions/016-benchmark-method.md, the figures docs/benchmarks.md. One `authward serve`
process (uvicorn, 1 worker; `bench/oauth_app.py`), with `--baseline SRC` a second one serving the
authward package under SRC (an older commit's src/, on PYTHONPATH, which also migrates and fills
its own database: `bench/oauth_prepare.py`), and node-oidc-provider (npm `oidc-provider`, pinned
in `bench/peers/oidc-provider/`, in-memory adapter, JWT access tokens through resource
indicators, signed with authward's `signing_alg`) all run side by side, pinned to CPU 0, so each
has that one core while it is loaded; wrk (one thread) is pinned to CPU 1. For each connection
count, round and endpoint the servers are loaded one after the other, the order rotating every
round, and the medians of the rounds are reported, with the CPU each server used (in cores), and
authward's req/s, p99 and req/s per CPU-second divided by each other server's:

- `client_credentials` at the token endpoint, client_secret_basic (authward: a machine user's
  credentials; the peer: its confidential client);
- introspection of a valid user access token, by the client it was issued to;
- userinfo with that user access token (`openid email profile`);
- `jwks`: the published keys (authward: /.well-known/jwks.json; the peer: the `jwks_uri` of its
  discovery document).

`--endpoints` picks some of them. Every endpoint is called once and its answer checked before it
is loaded; a non-2xx answer under load aborts the run. Then password logins through authward's
login form (`POST /login`; with `--baseline`, the two authwards in turn) are set against
argon2id verification alone on the same CPU, measured right before and right after each server
run (this VM's CPU speed drifts by 10-25 % from minute to minute). Over the
same run, /proc gives the share of the server's own CPU that went into its argon2id threads
(named `authward-argon2` in the OS). Drift cannot move that share, since both parts are
measured at the same moment on the same core; it leaves out what the server lost waiting
(its CPU column) and a hash slowed down by its neighbours, which the other two ratios include.
`--profile DIR` serves authward under cProfile (`bench/profile_serve.py`), loads each endpoint
once more and prints where the event-loop thread's time goes. On a machine busy with other
work, `--realtime 10` (root) runs the servers and wrk under SCHED_RR so that each server really
gets its core.

Needs wrk (`apt-get install -y wrk`), taskset, node and npm (`npm ci` is run in the peer's
directory when its node_modules is missing), and for `--database postgresql` a server at
AUTHWARD_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import pstats
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import asyncpg  # type: ignore[import-untyped]
import httpx

from authward.settings import load_settings
from authward.users.passwords import HASHING_THREAD

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "bench" / "oauth_app.py"
PEER_DIR = ROOT / "bench" / "peers" / "oidc-provider"
PG_ADMIN_URL = os.environ.get(
    "AUTHWARD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SERVER_CPU, LOAD_CPU = "0", "1"
PEER_CLIENT = ("bench-client", secrets.token_urlsafe(32))
FORM = "application/x-www-form-urlencoded"
ENDPOINTS = ("client_credentials", "introspection", "userinfo", "jwks")


@dataclass(frozen=True)
class Request:
    """One HTTP request, replayed by wrk; ``expect`` is checked on a single call first."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    #: (JSON member, value) of a good answer; a value of None: the member is there, not empty
    expect: tuple[str, object] = ("", None)
    status: int = 200

    def check(self) -> None:
        response = httpx.request(self.method, self.url, headers=self.headers, content=self.body)
        key, value = self.expect
        got = response.json().get(key) if key and response.status_code == self.status else None
        good = not key or (bool(got) if value is None else got == value)
        if response.status_code != self.status or not good:
            raise SystemExit(f"{self.url} answered {response.status_code}: {response.text}")

    def lua(self) -> str:
        lines = [f"wrk.method = {_lua(self.method)}", f"wrk.body = {_lua(self.body)}"]
        lines += [f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in self.headers.items()]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    #: CPU the server used over the run, in cores (at most 1: it is pinned to one); NaN if unknown
    cpu: float = float("nan")
    refused: int = 0  # answers outside 2xx/3xx
    #: share of that CPU spent in authward's argon2id threads (NaN if unknown)
    hashing: float = float("nan")


def _lua(text: str) -> str:
    if not text.isascii() or "\n" in text:
        raise ValueError(f"not a plain ASCII line: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64; ours are URL-safe already.
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int, name: str) -> float:
    """User + system CPU of the process's threads called ``name`` (their OS-level name)."""
    ticks = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() != name:
                continue
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(request: Request, connections: int, seconds: int, pid: int | None = None) -> Result:
    """Load ``request``; with ``pid``, also how much CPU that server process used meanwhile."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(request.lua())
    cpu_before = cpu_seconds(pid) if pid else 0.0
    hashing_before = thread_cpu_seconds(pid, HASHING_THREAD) if pid else 0.0
    try:
        out = subprocess.run(
            [
                *("taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"),
                *("--timeout", "10s", "--latency", "-s", script.name, request.url),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    cpu = cpu_seconds(pid) - cpu_before if pid else float("nan")
    hashing = thread_cpu_seconds(pid, HASHING_THREAD) - hashing_before if pid else float("nan")
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if refused:
        print(f"    ({request.url}: {refused.group(1)} refused requests)", flush=True)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    took = re.search(r"requests in ([\d.]+)(us|ms|s),", out)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not (rps and p50 and p99 and took):
        raise SystemExit(f"unexpected wrk output:\n{out}")
    errors = re.search(r"Socket errors: .*", out)
    if errors:
        print(f"    ({request.url}: {errors.group(0)})", flush=True)
    share = cpu / (_ms(*took.groups()) / 1000)
    return Result(
        float(rps.group(1)),
        _ms(*p50.groups()),
        _ms(*p99.groups()),
        share,
        int(refused.group(1)) if refused else 0,
        hashing / cpu if cpu else float("nan"),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_tools(peer: bool = True) -> None:
    tools = ("wrk", "taskset", "node", "npm") if peer else ("wrk", "taskset")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"missing: {', '.join(missing)}. On Debian/Ubuntu: "
            "sudo apt-get install -y wrk util-linux nodejs npm"
        )
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs two CPUs: the servers run on CPU 0, wrk on CPU 1")
    if peer and not (PEER_DIR / "node_modules" / "oidc-provider").is_dir():
        print("installing the peer: npm ci in bench/peers/oidc-provider", flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True)


def _readline(process: subprocess.Popen[str], prefix: str, name: str) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(prefix):
            return line
    raise SystemExit(f"{name} exited with {process.wait()} before it was ready")


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[str]
    requests: dict[str, Request]  # by endpoint


@contextmanager
def running(
    command: list[str], env: dict[str, str], ready: str, cwd: Path = ROOT
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start a server pinned to the server CPU; yield it and its ready line; stop it (SIGINT)."""
    process = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, _readline(process, ready, command[0])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the peer ---------------------------------------------------------------------------------


@contextmanager
def peer(alg: str) -> Iterator[Server]:
    env = {
        **os.environ,
        "BENCH_PORT": str(free_port()),
        "BENCH_CLIENT_ID": PEER_CLIENT[0],
        "BENCH_CLIENT_SECRET": PEER_CLIENT[1],
        "BENCH_SIGNING_ALG": alg,
    }
    with running(["node", "server.js"], env, "oidc-provider ready", cwd=PEER_DIR) as (
        process,
        line,
    ):
        _, _, base, user_token = line.split()
        client = {"Authorization": _basic(*PEER_CLIENT), "Content-Type": FORM}
        discovery = httpx.get(f"{base}/.well-known/openid-configuration").json()
        yield Server(
            process,
            {
                "client_credentials": Request(
                    f"{base}/token",
                    "POST",
                    client,
                    "grant_type=client_credentials",
                    ("token_type", "Bearer"),
                ),
                "introspection": Request(
                    f"{base}/token/introspection",
                    "POST",
                    client,
                    f"token={user_token}",
                    ("active", True),
                ),
                "userinfo": Request(
                    f"{base}/me",
                    headers={"Authorization": f"Bearer {user_token}"},
                    expect=("sub", "bench-user"),
                ),
                "jwks": Request(discovery["jwks_uri"], expect=("keys", None)),
            },
        )


# -- authward ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    machine: tuple[str, str]  # client_id, client_secret of the machine user
    client: tuple[str, str]  # the OAuth client's
    code: str
    code_verifier: str
    user_id: str
    password: str
    username: str
    redirect_uri: str


def prepare(env: dict[str, str]) -> Setup:
    """Migrate and fill the store with the code that will serve it (`bench/oauth_prepare.py`,
    in a process with the server's environment: an older src/ on PYTHONPATH prepares its own)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "oauth_prepare.py"), str(APP)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(
            f"preparing the store failed ({env.get('PYTHONPATH', 'current')}):\n"
            f"{out.stderr[-3000:]}"
        )
    values = json.loads(out.stdout.strip().splitlines()[-1])
    values["machine"], values["client"] = tuple(values["machine"]), tuple(values["client"])
    return Setup(**values)


def user_access_token(base: str, setup: Setup) -> str:
    """Redeem the code at the token endpoint, as the client would after the redirect."""
    response = httpx.post(
        f"{base}/oauth2/token",
        headers={"Authorization": _basic(*setup.client)},
        data={
            "grant_type": "authorization_code",
            "code": setup.code,
            "redirect_uri": setup.redirect_uri,
            "code_verifier": setup.code_verifier,
        },
    )
    if response.status_code != 200:
        raise SystemExit(f"code redemption failed: {response.status_code} {response.text}")
    return str(response.json()["access_token"])


def login_request(base: str, username: str, password: str) -> Request:
    """The login form's POST, with the CSRF cookie and token a GET of the page hands out."""
    page = httpx.get(f"{base}/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    cookie = page.cookies.get("aw_csrf")
    if page.status_code != 200 or csrf is None or cookie is None:
        raise SystemExit(f"unexpected login page: {page.status_code} {page.text[:500]}")
    form = {"csrf_token": csrf.group(1), "username": username, "password": password}
    return Request(
        f"{base}/login",
        "POST",
        {"Content-Type": FORM, "Cookie": f"aw_csrf={cookie}"},
        urlencode(form),
        status=303,
    )


@contextmanager
def authward(
    database_url: str,
    profile_to: Path | None = None,
    src: Path | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[Server]:
    """An ``authward serve`` process; with ``src``, the authward package under that directory
    (an older commit's src/) prepares the database and serves it; ``settings``: more variables
    of its environment."""
    with tempfile.TemporaryDirectory(prefix="authward-bench-") as tmp:
        env = {
            **os.environ,
            **({"PYTHONPATH": str(src.resolve())} if src is not None else {}),
            "AUTHWARD_DATABASE_URL": database_url,
            "AUTHWARD_KEY_FILE": f"{tmp}/authward.key",
            "AUTHWARD_HOST": "127.0.0.1",
            "AUTHWARD_PORT": str(free_port()),
            # One user signs in over up to 16 connections at once from one address: each
            # attempt in flight counts until it succeeds (decision 037).
            "AUTHWARD_LOGIN_ACCOUNT_LIMIT": "1000",
            "AUTHWARD_LOGIN_ADDRESS_LIMIT": "1000",
            **(settings or {}),
        }
        env.pop("AUTHWARD_ISSUER", None)
        setup = prepare(env)
        command = [sys.executable, "-m", "authward", "serve", "--app", str(APP)]
        if profile_to is not None:
            command[1:3] = [str(ROOT / "bench" / "profile_serve.py")]
            env["AUTHWARD_BENCH_PROFILE"] = str(profile_to)
        with running(command, env, "authward: serving") as (process, line):
            base = line.split()[-1]
            user_token = user_access_token(base, setup)
            client = {"Authorization": _basic(*setup.client), "Content-Type": FORM}
            yield Server(
                process,
                {
                    "client_credentials": Request(
                        f"{base}/oauth2/token",
                        "POST",
                        {"Authorization": _basic(*setup.machine), "Content-Type": FORM},
                        "grant_type=client_credentials",
                        ("token_type", "Bearer"),
                    ),
                    "introspection": Request(
                        f"{base}/oauth2/introspect",
                        "POST",
                        client,
                        f"token={user_token}",
                        ("active", True),
                    ),
                    "userinfo": Request(
                        f"{base}/oauth2/userinfo",
                        headers={"Authorization": f"Bearer {user_token}"},
                        expect=("sub", setup.user_id),
                    ),
                    "jwks": Request(f"{base}/.well-known/jwks.json", expect=("keys", None)),
                    "login": login_request(base, setup.username, setup.password),
                },
            )


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="authward-bench-db-") as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/authward.db"
        return
    name = f"aw_bench_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


# -- the run ----------------------------------------------------------------------------------


def measure(
    servers: dict[str, Server],
    endpoints: list[str],
    connections: list[int],
    seconds: int,
    rounds: int,
) -> str:
    """Load the servers endpoint by endpoint, one after the other, the order rotating every
    round; a markdown table of the medians, with authward's ratios to each other server."""
    for server in servers.values():
        for endpoint in endpoints:
            request = server.requests[endpoint]
            request.check()
            wrk(request, max(connections), 2)  # warm-up: caches, the peer's JIT
    names = list(servers)
    results: dict[tuple[str, str, int], list[Result]] = {}
    for c in connections:
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for endpoint in endpoints:
                for name in order:
                    server = servers[name]
                    result = wrk(server.requests[endpoint], c, seconds, server.process.pid)
                    if result.refused:
                        raise SystemExit(f"{name} refused {endpoint} requests: figures not valid")
                    results.setdefault((name, endpoint, c), []).append(result)
                    print(
                        f"  {c:>3} conn, round {r + 1}, {endpoint:<18} {name:<13} "
                        f"{result.rps:>8,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                        f"p99 {result.p99_ms:6.2f} ms  CPU {result.cpu:4.2f}",
                        flush=True,
                    )
    return table(results, names, endpoints, connections)


def table(
    results: dict[tuple[str, str, int], list[Result]],
    names: list[str],
    endpoints: list[str],
    connections: list[int],
) -> str:
    """Medians per server; then, for authward against each other server: req/s, p99 and req/s
    per CPU-second, authward's divided by the other's (the must-not-regress reading: req/s
    >= 0.90 and p99 <= 1.00 against the baseline; p99 <= 1.00 against the peer)."""
    others = [n for n in names if n != "authward"] if "authward" in names else []
    header = "| endpoint | conn | " + " | ".join(f"{n} req/s | p50 | p99 | CPU" for n in names)
    header += "".join(f" | req/s ÷ {n} | p99 ÷ {n} | per CPU-s ÷ {n}" for n in others) + " |"
    rows = [header, "| --- | --- |" + " ---: |" * (4 * len(names) + 3 * len(others))]
    for endpoint in endpoints:
        for c in connections:
            cells, rps, p99, per_cpu = [], {}, {}, {}
            for name in names:
                runs = results[(name, endpoint, c)]
                rps[name] = statistics.median(x.rps for x in runs)
                per_cpu[name] = statistics.median(x.rps / x.cpu for x in runs)
                p50 = statistics.median(x.p50_ms for x in runs)
                p99[name] = statistics.median(x.p99_ms for x in runs)
                cpu = statistics.median(x.cpu for x in runs)
                cells.append(f"{rps[name]:,.0f} | {p50:.1f} ms | {p99[name]:.1f} ms | {cpu:.2f}")
            ratios = "".join(
                f" {rps['authward'] / rps[n]:.2f} | {p99['authward'] / p99[n]:.2f} |"
                f" {per_cpu['authward'] / per_cpu[n]:.2f} |"
                for n in others
            )
            rows.append(f"| {endpoint} | {c} | " + " | ".join(cells) + " |" + ratios)
    return "\n".join(rows)


ARGON2_ALONE = """
import sys, time
from authward.users.passwords import owasp_hasher
hasher, password = owasp_hasher(), "benchmark password"
stored = hasher.hash(password)
hasher.verify(stored, password)
started, cpu = time.perf_counter(), time.process_time()
for _ in range(int(sys.argv[1])):
    hasher.verify(stored, password)
n = int(sys.argv[1])
print(n / (time.perf_counter() - started), n / (time.process_time() - cpu))
"""


def argon2_alone(verifications: int = 40) -> tuple[float, float]:
    """argon2id verifications per second on the server CPU, nothing else (OWASP parameters),
    and per CPU-second of that process."""
    out = subprocess.run(
        ["taskset", "-c", SERVER_CPU, sys.executable, "-c", ARGON2_ALONE, str(verifications)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall, cpu = out.split()
    return float(wall), float(cpu)


def logins(servers: dict[str, Server], connections: list[int], seconds: int, rounds: int) -> str:
    """Password logins/s through the login form vs argon2id verify alone, alternated round by
    round; with several servers (``--baseline``), they take turns, the order flipping each
    round. The speed of this VM's CPU drifts by 10-25 % from one minute to the next, so every
    server run is set against argon2id alone measured right before and right after it."""
    for server in servers.values():
        server.requests["login"].check()
        wrk(server.requests["login"], min(connections), 2)
    alone = [argon2_alone()]
    results: dict[tuple[str, int], list[tuple[Result, float, float]]] = {}
    for r in range(rounds):
        order = list(servers) if r % 2 == 0 else list(servers)[::-1]
        for c in connections:
            for name in order:
                server = servers[name]
                run = wrk(server.requests["login"], c, seconds, server.process.pid)
                alone.append(argon2_alone())
                # The hash's speed around the run: the mean of the measurements on either side.
                wall = (alone[-2][0] + alone[-1][0]) / 2
                per_cpu = (alone[-2][1] + alone[-1][1]) / 2
                results.setdefault((name, c), []).append((run, wall, per_cpu))
                print(
                    f"  {c:>3} conn, round {r + 1}, {name:<8} login {run.rps:6,.1f}/s "
                    f"({run.rps / run.cpu:6,.1f} per CPU-second), argon2id alone around it "
                    f"{wall:6,.1f}/s ({per_cpu:6,.1f} per CPU-second): {run.rps / wall:.0%}; "
                    f"the server's CPU in argon2id threads: {run.hashing:.1%}",
                    flush=True,
                )
    rows = [
        f"argon2id verify alone (OWASP m=19 MiB, t=2, p=1), CPU {SERVER_CPU}, "
        f"{len(alone)} measurements: {min(a[0] for a in alone):,.1f}-"
        f"{max(a[0] for a in alone):,.1f}/s",
        "| code | conn | logins/s | p50 | p99 | CPU | argon2id alone around the runs | "
        "of the hash-alone rate | per CPU-second, of the hash's | "
        "server CPU in argon2id threads | refused (all rounds) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in connections:
        for name in servers:
            runs = results[(name, c)]
            rps = statistics.median(x.rps for x, _, _ in runs)
            p50 = statistics.median(x.p50_ms for x, _, _ in runs)
            p99 = statistics.median(x.p99_ms for x, _, _ in runs)
            cpu = statistics.median(x.cpu for x, _, _ in runs)
            hash_rate = statistics.median(wall for _, wall, _ in runs)
            share = statistics.median(x.rps / wall for x, wall, _ in runs)
            per_cpu = statistics.median(x.rps / x.cpu / h for x, _, h in runs)
            refused = sum(x.refused for x, _, _ in runs)
            # 0 for code that does not name its hashing threads (a --baseline before them)
            hashing = statistics.median(x.hashing for x, _, _ in runs)
            rows.append(
                f"| {name} | {c} | {rps:,.1f} | {p50:.0f} ms | {p99:.0f} ms | {cpu:.2f} | "
                f"{hash_rate:,.1f}/s | {share:.0%} | {per_cpu:.0%} | "
                f"{f'{hashing:.1%}' if hashing else '—'} | {refused} |"
            )
    return "\n".join(rows)


_PACKAGES = ("uvicorn", "starlette", "sqlalchemy", "aiosqlite", "asyncpg", "joserfc", "httptools")


def _component(where: tuple[str, int, str]) -> str:
    """Which part of the stack a profiled function belongs to."""
    path, _, name = where
    if path == "~":  # C functions
        if "sign' of" in name or "verify' of" in name:
            return "signature (cryptography)"
        if "epoll" in name:
            return "event loop idle (epoll)"
        if "_socket.socket" in name:
            return "socket send/recv"
        if "SimpleQueue" in name or "_thread.lock" in name:
            return "hand-off to the SQLite thread"
        if "greenlet" in name:
            return "sqlalchemy"
        return "C builtins (json, hashlib, str, ...)"
    for package in _PACKAGES:
        if f"/{package}/" in path:
            return package
    if "/src/authward/" in path:
        return "authward." + path.split("/src/authward/")[1].removesuffix(".py").replace("/", ".")
    module = re.search(r"python3\.\d+/(?:site-packages/)?([^/]+)", path)
    return "stdlib " + (module.group(1).removesuffix(".py") if module else path)


def profile(
    directory: Path, kind: str, endpoints: list[str], seconds: int, connections: int, login: int
) -> None:
    """Load each endpoint of an authward under cProfile and print where its time goes; the
    login form with ``login`` connections."""
    directory.mkdir(parents=True, exist_ok=True)
    for endpoint in (*endpoints, "login"):
        if endpoint == "login":
            connections = login
        out = directory / f"{endpoint}.prof"
        out.unlink(missing_ok=True)
        with database(kind) as url, authward(url, profile_to=out) as server:
            request = server.requests[endpoint]
            request.check()
            wrk(request, connections, 2)
            server.process.send_signal(signal.SIGUSR1)
            result = wrk(request, connections, seconds, server.process.pid)
            server.process.send_signal(signal.SIGUSR2)
            while not out.exists():
                time.sleep(0.1)
            time.sleep(0.5)  # dump_stats may still be writing
        requests = result.rps * seconds
        stats = pstats.Stats(str(out), stream=sys.stdout)
        per_request = stats.total_tt / requests * 1e6  # type: ignore[attr-defined]
        print(
            f"\n## authward under cProfile ({kind}), {endpoint}, {connections} connections: "
            f"{result.rps:,.0f} req/s at {result.cpu:.2f} CPU; event-loop thread "
            f"{per_request:,.0f} µs per request (profiler overhead included)",
            flush=True,
        )
        components: dict[str, float] = {}
        for where, (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            components[_component(where)] = components.get(_component(where), 0) + tottime
        for name, tottime in sorted(components.items(), key=lambda kv: -kv[1])[:15]:
            print(f"  {name:<45} {tottime / requests * 1e6:7.1f} µs/request")
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(r"authward|starlette|sqlalchemy|aiosqlite", 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=["authward", "oidc-provider"],
        default=["authward", "oidc-provider"],
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness increment for this script, the servers and wrk (negative needs root): "
        "keeps other work on a shared machine from starving them",
    )
    parser.add_argument(
        "--realtime",
        type=int,
        metavar="PRIORITY",
        help="run this script, the servers and wrk under SCHED_RR at this priority (root): on a "
        "busy machine it gives the servers their core; see docs/decisions/016",
    )
    parser.add_argument(
        "--endpoints",
        nargs="+",
        choices=ENDPOINTS,
        default=list(ENDPOINTS),
        help="the endpoints to compare (all by default)",
    )
    parser.add_argument("--login-connections", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--no-login", action="store_true", help="skip the password-login run")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="SRC",
        help="also serve the authward package under SRC (an older commit's src/, e.g. from "
        "`git archive REV src | tar -x -C DIR`, then DIR/src) on its own database, and load it "
        "in turn with the others in the endpoint comparison and the login runs",
    )
    parser.add_argument(
        "--baseline-env",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="set these in the baseline's environment only: with --baseline pointing at this "
        "checkout's src, the same code with one setting changed (AUTHWARD_ACCESS_LOG=false)",
    )
    parser.add_argument(
        "--login-only",
        action="store_true",
        help="only the password-login run (authward and the baseline, no endpoint comparison)",
    )
    parser.add_argument("--profile", type=Path, help="also profile authward, .prof files here")
    parser.add_argument("--profile-only", action="store_true", help="skip the comparison")
    args = parser.parse_args()
    require_tools(peer="oidc-provider" in args.servers and not args.login_only)
    if args.nice:
        os.nice(args.nice)
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(args.realtime))
    alg = load_settings().signing_alg
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if args.baseline is not None and not (args.baseline / "authward" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {args.baseline}: no authward package there (give its src/)")
    names = ["authward"] if args.login_only else [n for n in args.servers if n == "authward"]
    names += ["baseline"] if args.baseline is not None else []
    names += [n for n in args.servers if n == "oidc-provider" and not args.login_only]
    for kind in [] if args.profile_only else kinds:
        print(f"\n{' vs '.join(names)} ({alg}; authward on {kind})", flush=True)
        with ExitStack() as stack:
            servers: dict[str, Server] = {}
            for name in names:  # each authward on its own database
                if name == "oidc-provider":
                    servers[name] = stack.enter_context(peer(alg))
                    continue
                url = stack.enter_context(database(kind))
                src = args.baseline if name == "baseline" else None
                settings = dict(v.split("=", 1) for v in args.baseline_env) if src else None
                servers[name] = stack.enter_context(authward(url, src=src, settings=settings))
            if not args.login_only:
                print(
                    f"ratios ÷: authward's figure divided by the other server's ({kind})\n"
                    + measure(servers, args.endpoints, args.connections, args.seconds, args.rounds),
                    flush=True,
                )
            contenders = {
                label: servers[name]
                for label, name in (("current", "authward"), ("baseline", "baseline"))
                if name in servers
            }
            if "current" in contenders and not args.no_login:
                print(f"\npassword login through POST /login (authward on {kind})", flush=True)
                logins_table = logins(contenders, args.login_connections, args.seconds, args.rounds)
                print(logins_table, flush=True)
    if args.profile:
        for kind in kinds:
            connections, login = max(args.connections), min(args.login_connections)
            profile(args.profile, kind, args.endpoints, args.seconds, connections, login)


if __name__ == "__main__":
    main()
