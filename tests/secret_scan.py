"""A pytest plugin: no secret authward made or was given during the run appears in any log.

At session start it
- puts a handler on the root logger that keeps the text of every record (message with its
  arguments, exception and stack text, and the JSON line `authward serve` writes for it), and
  lets authward's own loggers emit down to DEBUG;
- wraps the places secrets come from, so each one is remembered: opaque secrets (authorization
  codes, refresh tokens, API keys, M2M tokens, machine secret keys), client secrets, browser
  session secrets, every signed JWT (access, ID and session tokens), and the passwords handed to
  ``Users.create``, ``set_password`` and ``authenticate``;
- keeps the stderr of ``authward`` subprocesses collected with ``communicate()`` (which
  ``subprocess.run`` uses), and remembers the passwords those were given on stdin and the
  secrets they printed on stdout (client secrets, tokens, keys: what the CLI prints on purpose).

At session end it looks for every remembered secret of 16 characters or more in all that text,
and fails the run with a report naming the kind of secret and the logger, never the secret.

Not covered: a secret a subprocess made and never printed (this process cannot know it), the
logs of subprocesses not collected through ``communicate()`` (asyncio subprocesses, a server's
stdout read line by line), and third-party loggers below their configured level (lowering
them all to DEBUG would change what the tests' ``caplog`` sees).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

MIN_LENGTH = 16
_WINDOW = MIN_LENGTH
_OPAQUE_KINDS = {
    "awcode_": "authorization code",
    "awrt_": "refresh token",
    "ak_": "API key",
    "mt_": "M2M token",
    "msk_": "machine secret key",
}

#: What `authward` commands print on stdout by design (client secrets, codes, refresh tokens,
#: API keys, M2M and machine secrets, session secrets, JWTs): remembered so that no log repeats
#: it, although the process that made it is not instrumented.
_PRINTED_SECRET = re.compile(
    r"(?:awsec|awcode|awrt|ak|mt|msk|sess)_[A-Za-z0-9_-]{16,}"
    r"|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"
)


@dataclass(frozen=True)
class Leak:
    kind: str
    source: str

    def __str__(self) -> str:
        return f"{self.kind} found in a log record of {self.source}"


@dataclass
class SecretScan:
    """Secrets seen and log text captured; :meth:`leaks` matches the two."""

    secrets: dict[str, str] = field(default_factory=dict)
    texts: list[tuple[str, str]] = field(default_factory=list)

    def secret(self, value: object, kind: str) -> None:
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            self.secrets.setdefault(value, kind)

    def text(self, source: str, text: str) -> None:
        if len(text) >= MIN_LENGTH:
            self.texts.append((source, text))

    def leaks(self) -> list[Leak]:
        """One pass over each distinct text, looking up each 16-character window: the cost does
        not grow with the number of secrets."""
        by_head: dict[str, list[str]] = {}
        for value in self.secrets:
            by_head.setdefault(value[:_WINDOW], []).append(value)
        found: set[Leak] = set()
        for source, text in set(self.texts):
            for i in range(len(text) - _WINDOW + 1):
                candidates = by_head.get(text[i : i + _WINDOW])
                if candidates:
                    for value in candidates:
                        if text.startswith(value, i):
                            found.add(Leak(self.secrets[value], source))
        return sorted(found, key=lambda leak: (leak.source, leak.kind))


class CapturingHandler(logging.Handler):
    """Keeps each record's text, and the line `authward serve` would write for it
    (``AUTHWARD_LOG_FORMAT=json``: the access log's route and path and the request and trace
    ids come from the record's fields, not its message)."""

    def __init__(self, scan: SecretScan) -> None:
        super().__init__(logging.DEBUG)
        self.scan = scan
        from authward.observability.logs import JsonFormatter

        self.json = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parts = [record.getMessage()]
        except Exception:  # a record with bad arguments still has both halves to scan
            parts = [str(record.msg), repr(record.args)]
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        # A record with bad arguments fails here too: its halves above are scanned already.
        with contextlib.suppress(Exception):
            parts.append(self.json.format(record))
        self.scan.text(f"logger {record.name!r}", "\n".join(parts))


# -- instrumentation --------------------------------------------------------------------------


def _rebind(original: object, replacement: object) -> None:
    """Replace ``original`` wherever an authward module bound it (``from x import f`` too)."""
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "authward" or name.startswith("authward.")):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                setattr(module, attr, replacement)


def _returns_secret(
    function: Callable[..., str], kind: Callable[..., str], scan: SecretScan
) -> Callable[..., str]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        value = function(*args, **kwargs)
        scan.secret(value, kind(*args, **kwargs))
        return value

    return wrapper


def _takes_password(method: Callable[..., Any], scan: SecretScan) -> Callable[..., Any]:
    @functools.wraps(method)
    async def wrapper(self: object, username: str, password: object, *a: Any, **kw: Any) -> Any:
        scan.secret(password, "password")
        return await method(self, username, password, *a, **kw)

    return wrapper


def _reveals_secret(method: Callable[..., Any], scan: SecretScan) -> Callable[..., Any]:
    @functools.wraps(method)
    async def wrapper(*a: Any, **kw: Any) -> Any:
        value = await method(*a, **kw)
        if value is not None:
            scan.secret(value.get_secret_value(), "client secret")
        return value

    return wrapper


def _opaque_kind(prefix: str) -> str:
    return _OPAQUE_KINDS.get(prefix, f"opaque secret ({prefix}...)")


def _jwt_kind(_key: object, claims: Any, *, typ: str) -> str:
    return f"JWT (typ {typ})"


def instrument(scan: SecretScan) -> Callable[[], None]:
    """Wrap the generation points; returns what undoes it."""
    from authward.identity import session_types as sessions
    from authward.jobs import dynamic_trigger
    from authward.store import principals, sync
    from authward.tokens import jwt, opaque
    from authward.users.service import Users

    undo: list[Callable[[], None]] = []

    def replace(original: Callable[..., Any], replacement: Callable[..., Any]) -> None:
        _rebind(original, replacement)
        undo.append(lambda: _rebind(replacement, original))

    replace(opaque.generate, _returns_secret(opaque.generate, _opaque_kind, scan))
    replace(
        sync.new_client_secret,
        _returns_secret(sync.new_client_secret, lambda: "client secret", scan),
    )
    replace(
        sessions._generate_secret,
        _returns_secret(sessions._generate_secret, lambda: "session secret", scan),
    )
    replace(jwt.sign_jwt, _returns_secret(jwt.sign_jwt, _jwt_kind, scan))
    replace(
        dynamic_trigger._new_secret,
        _returns_secret(dynamic_trigger._new_secret, lambda: "webhook secret", scan),
    )
    for name in ("create", "set_password", "authenticate"):
        original = getattr(Users, name)
        setattr(Users, name, _takes_password(original, scan))
        undo.append(functools.partial(setattr, Users, name, original))
    # Client secrets made by another process (`authward migrate`) and read from the store here.
    for store in (principals.ClientStore, principals.MachineUserStore):
        original = store.client_secret
        store.client_secret = _reveals_secret(original, scan)  # type: ignore[method-assign]
        undo.append(functools.partial(setattr, store, "client_secret", original))

    communicate = subprocess.Popen.communicate

    @functools.wraps(communicate)
    def communicating(
        self: subprocess.Popen[Any], input: Any = None, timeout: float | None = None
    ) -> Any:
        out = communicate(self, input, timeout)
        argv = self.args if isinstance(self.args, list | tuple) else [self.args]
        words = [str(a) for a in argv]
        if "authward" in words or any(w.endswith("/authward") for w in words):
            if "--password-stdin" in words and isinstance(input, str | bytes):
                for line in _text(input).splitlines():
                    scan.secret(line, "password")
            for match in _PRINTED_SECRET.finditer(_text(out[0] or "")):
                scan.secret(match.group(), f"secret printed by `authward {' '.join(words[3:5])}`")
            stderr = out[1]
            if stderr:
                scan.text(f"stderr of `authward {' '.join(words[3:5])}`", _text(stderr))
        return out

    subprocess.Popen.communicate = communicating  # type: ignore[method-assign]
    undo.append(functools.partial(setattr, subprocess.Popen, "communicate", communicate))

    def restore() -> None:
        for step in reversed(undo):
            step()

    return restore


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def report(leaks: Iterable[Leak | str]) -> list[str]:
    return [f"secret scan: {leak}" for leak in leaks]


# -- pytest hooks -----------------------------------------------------------------------------

SCAN = SecretScan()
_state: dict[str, Any] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    handler = CapturingHandler(SCAN)
    root = logging.getLogger()
    root.addHandler(handler)
    authward = logging.getLogger("authward")
    _state.update(
        handler=handler, level=authward.level, undo=instrument(SCAN), started=time.perf_counter()
    )
    authward.setLevel(logging.DEBUG)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if "handler" not in _state:
        return
    logging.getLogger().removeHandler(_state["handler"])
    logging.getLogger("authward").setLevel(_state["level"])
    _state["undo"]()
    started = time.perf_counter()
    leaks = [str(leak) for leak in SCAN.leaks()]
    secrets, texts = len(SCAN.secrets), len(SCAN.texts)
    # Under pytest-xdist each worker scans what its own tests made and logged, and hands the
    # result to the controller, whose exit status is the run's.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["secret_scan"] = {"secrets": secrets, "texts": texts, "leaks": leaks}
    for worker in _state.get("workers", []):
        secrets += worker["secrets"]
        texts += worker["texts"]
        leaks += worker["leaks"]
    _state["summary"] = (
        f"secret scan: {secrets} secrets, {texts} log texts, {time.perf_counter() - started:.2f}s"
    )
    _state["leaks"] = sorted(set(leaks))
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    scanned = getattr(node, "workeroutput", {}).get("secret_scan")
    if scanned is not None:
        _state.setdefault("workers", []).append(scanned)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "summary" not in _state:
        return
    leaks = _state["leaks"]
    if leaks:
        terminalreporter.section("secrets in logs", red=True)
        for line in report(leaks):
            terminalreporter.write_line(line, red=True)
    terminalreporter.write_line(_state["summary"])
