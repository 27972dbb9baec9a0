"""One bounded GET of a URL that someone else named, on the public internet only (decision 048).

Used for client ID metadata documents: the URL comes from an unauthenticated request, so the
fetch must not become a way to reach this machine or its private network (SSRF). The rules:

- ``https`` only; the host is resolved here, **every** address it resolves to must be a global
  unicast address (no private, loopback, link-local, shared, reserved, multicast or documentation
  ranges, IPv4 embedded in IPv6 unwrapped first), and the connection goes to the address that was
  checked: a name that resolves differently a moment later (DNS rebinding) changes nothing. TLS
  still verifies the certificate for the host name in the URL.
- ``allow_loopback`` (development only) lets loopback addresses through, nothing else.
- No redirect is followed (a 3xx is a refusal), the body is read up to ``max_bytes`` and the
  whole exchange, name resolution included, must end within ``timeout`` seconds.

Every failure is a :class:`FetchRefused` whose message says what went wrong in plain words; it
never carries the remote server's text.
"""

from __future__ import annotations

__all__ = ["FetchRefused", "Fetched", "PublicFetcher", "is_public_address"]

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import certifi
import httpcore

from authward.errors import AuthwardError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: What httpcore raises for a failed connection, TLS handshake, protocol error or timeout.
_HTTP_ERRORS = (
    httpcore.NetworkError,
    httpcore.TimeoutException,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ConnectionNotAvailable,
    ssl.SSLError,
)


class FetchRefused(AuthwardError):
    code = "fetch_refused"


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    #: Header names in lower case.
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return ", ".join(values) if values else None


def _unwrapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return embedded
    return ip


def is_public_address(ip: IPAddress, *, allow_loopback: bool = False) -> bool:
    """A global unicast address (RFC 6890's special-use ranges are not), or loopback when
    ``allow_loopback``."""
    ip = _unwrapped(ip)
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


class _CheckedAddresses(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, connecting to the address :meth:`connect_tcp` checked rather
    than to whatever the name resolves to when the socket opens."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_loopback = allow_loopback

    async def _address(self, host: str, port: int) -> str:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError):
            raise FetchRefused("its host name cannot be resolved") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found]
        if not addresses:
            raise FetchRefused("its host name cannot be resolved")
        if not all(is_public_address(a, allow_loopback=self._allow_loopback) for a in addresses):
            raise FetchRefused("its host resolves to a private or special-use address")
        return str(addresses[0])

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: object = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self._address(host, port)
        return await self._inner.connect_tcp(
            address, port, timeout=timeout, local_address=local_address
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: object = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchRefused("only TCP connections are made")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PublicFetcher:
    """``ca_bundle``: the certificate authorities to trust instead of certifi's (tests, private
    CAs)."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        ca_bundle: Path | None = None,
        max_bytes: int = 5 * 1024,
        timeout: float = 5.0,
        accept: str = "application/json",
    ) -> None:
        self._ssl = ssl.create_default_context(cafile=str(ca_bundle or certifi.where()))
        self._backend = _CheckedAddresses(allow_loopback=allow_loopback)
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._headers = [(b"Accept", accept.encode()), (b"User-Agent", b"authward")]

    async def get(self, url: str) -> Fetched:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise FetchRefused("only https URLs are fetched")
        try:
            async with asyncio.timeout(self.timeout):
                return await self._get(url)
        except TimeoutError:
            raise FetchRefused(f"it did not answer within {self.timeout:g} seconds") from None
        except _HTTP_ERRORS:
            raise FetchRefused("it could not be fetched over https") from None

    async def _get(self, url: str) -> Fetched:
        limits = {"connect": self.timeout, "read": self.timeout, "write": self.timeout}
        async with (
            httpcore.AsyncConnectionPool(
                ssl_context=self._ssl, network_backend=self._backend, max_connections=1
            ) as pool,
            pool.stream(
                "GET", url, headers=self._headers, extensions={"timeout": {**limits, "pool": 1}}
            ) as response,
        ):
            headers = tuple(
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.headers
            )
            if 300 <= response.status < 400:
                raise FetchRefused("it answered with a redirect, which is not followed")
            declared = next((v for k, v in headers if k == "content-length"), None)
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                raise FetchRefused(f"it is larger than {self.max_bytes} bytes")
            body = bytearray()
            async for chunk in response.aiter_stream():
                body += chunk
                if len(body) > self.max_bytes:
                    raise FetchRefused(f"it is larger than {self.max_bytes} bytes")
            return Fetched(response.status, headers, bytes(body))
