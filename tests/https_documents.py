"""A real HTTPS server on loopback for tests that make authward fetch something: a test
certificate authority (trustme) issues its certificate for 127.0.0.1, ::1 and localhost, and each
path answers what the test set (status, headers, body, or a stall). It counts requests per path.

    async with DocumentServer(tmp_path) as server:
        url = server.url("/client.json")
        server.json("/client.json", {...}, cache_control="max-age=600")
        settings = settings_for(db, client_metadata_allow_loopback=True,
                                client_metadata_ca_bundle=server.ca_bundle)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Never answers (the client's time limit has to end it).
    stall: bool = False


_REASONS = {200: "OK", 302: "Found", 404: "Not Found", 500: "Internal Server Error"}


class DocumentServer:
    def __init__(self, directory: Path, *, host: str = "127.0.0.1") -> None:
        self.ca = trustme.CA()
        self.ca_bundle = directory / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_bundle))
        self._host = host
        self.answers: dict[str, Answer] = {}
        self.requests: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()
        self.port = 0

    def url(self, path: str, *, host: str | None = None) -> str:
        return f"https://{host or self._host}:{self.port}{path}"

    def json(self, path: str, document: Any, *, cache_control: str | None = None) -> None:
        headers = {"Content-Type": "application/json"}
        if cache_control is not None:
            headers["Cache-Control"] = cache_control
        self.answers[path] = Answer(headers=headers, body=json.dumps(document).encode())

    async def __aenter__(self) -> DocumentServer:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "::1", "localhost").configure_cert(context)
        self._server = await asyncio.start_server(self._serve, self._host, 0, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        # Stalled answers end now (cancelling a stream handler makes asyncio 3.11 log an error).
        self._closing.set()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            request_line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else "/"
            self.requests[path] += 1
            answer = self.answers.get(path, Answer(status=404, body=b"not here"))
            if answer.stall:
                await self._closing.wait()
                return
            headers = {"Content-Length": str(len(answer.body)), **answer.headers}
            head = f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, 'Other')}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            head += "Connection: close\r\n\r\n"
            writer.write(head.encode("latin-1") + answer.body)
            await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
            self._handlers.discard(task)
