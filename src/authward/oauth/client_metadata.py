"""Clients identified by the URL of their metadata document (draft-ietf-oauth-client-id-metadata-
document, "CIMD"; decision 048).

A ``client_id`` that is an ``https`` URL, and not a client registered here, is resolved by
fetching the JSON document at that URL (:mod:`authward.oauth.public_fetch`: public addresses
only, no redirects, at most 5 KB, a few seconds) and validating it:

- ``client_id`` in the document equals the URL, compared as strings (§4);
- ``redirect_uris`` is a non-empty list of absolute URIs (``https``, ``http`` on a loopback host,
  or a native app's private-use scheme), matched exactly at the authorization endpoint;
- no shared secret: ``client_secret`` is refused and ``token_endpoint_auth_method`` must be
  ``none`` (the default here); ``private_key_jwt`` is refused as not supported yet, the shared
  secret methods as forbidden by §4.1; no private key material in ``jwks``;
- ``client_uri`` and ``logo_uri``, when given, are ``https`` URLs (the consent page shows them).

Such a client is a public client with PKCE S256, exactly like a config-declared public client;
its grant types are those of the document's ``grant_types`` (default ``authorization_code``)
that a public client can use: ``authorization_code`` and ``refresh_token``.

A valid document is kept for its ``Cache-Control: max-age``, clamped between
:data:`MIN_CACHE_SECONDS` and :data:`MAX_CACHE_SECONDS` (:data:`DEFAULT_CACHE_SECONDS` when it
says nothing); ``no-store`` or ``no-cache`` means it is fetched again on the next use. A failure
is remembered only :data:`FAILURE_CACHE_SECONDS`, so a fixed document is picked up at once while a
flood of requests naming a broken URL does not turn into a flood of fetches.
"""

from __future__ import annotations

__all__ = [
    "MAX_CLIENT_ID_CHARS",
    "ClientMetadata",
    "MetadataDocuments",
    "check_client_id_url",
    "is_client_id_url",
    "validate_document",
]

import asyncio
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authward.oauth.clients import Client
from authward.oauth.errors import InvalidClient
from authward.oauth.public_fetch import Fetched, FetchRefused, PublicFetcher

log = logging.getLogger("authward.oauth.client_metadata")

#: Longer client_ids are refused (they are stored with grants, consents and audit events).
MAX_CLIENT_ID_CHARS = 255
MIN_CACHE_SECONDS = 60.0
MAX_CACHE_SECONDS = 86_400.0
DEFAULT_CACHE_SECONDS = 300.0
FAILURE_CACHE_SECONDS = 10.0
#: Most documents kept at once (least recently used dropped first).
MAX_CACHED = 1000
_MAX_REDIRECT_URIS = 20
_MAX_URI_CHARS = 2048
_MAX_NAME_CHARS = 200
PUBLIC_GRANT_TYPES = ("authorization_code", "refresh_token")
_SHARED_SECRET_METHODS = frozenset(
    {"client_secret_basic", "client_secret_post", "client_secret_jwt"}
)
#: JWK members that only a private (or symmetric) key has (RFC 7518 §6).
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
#: RFC 8252 §7.1: a native app's private-use scheme is a reversed domain name (has a dot).
_PRIVATE_USE_SCHEME = re.compile(r"[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+\Z")
_PRINTABLE = re.compile(r"[\x21-\x7e]+\Z")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)")


def is_client_id_url(client_id: str) -> bool:
    """Whether ``client_id`` is meant as a Client Identifier URL (it may still be invalid)."""
    return client_id.startswith("https://")


def _refuse(reason: str) -> InvalidClient:
    return InvalidClient(f"the client's metadata document is not usable: {reason}")


def check_client_id_url(client_id: str) -> None:
    """§3: https, a host, a path, no userinfo, fragment or dot segments; printable ASCII."""
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        raise InvalidClient(f"a client_id URL must be at most {MAX_CLIENT_ID_CHARS} characters")
    if not _PRINTABLE.match(client_id):
        raise InvalidClient("a client_id URL must be printable ASCII without spaces")
    try:
        parts = urlsplit(client_id)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise InvalidClient("the client_id is not a valid URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidClient("a client_id URL must be an https URL with a host")
    if "@" in parts.netloc:
        raise InvalidClient("a client_id URL must not contain a user name or password")
    if "#" in client_id:
        raise InvalidClient("a client_id URL must not contain a fragment")
    segments = parts.path.split("/")
    if not parts.path or parts.path == "/":
        raise InvalidClient("a client_id URL must have a path")
    if any(s.lower() in {".", "..", "%2e", "%2e%2e", ".%2e", "%2e."} for s in segments):
        raise InvalidClient("a client_id URL must not contain . or .. path segments")


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """A validated document: what the authorization endpoint and the consent page read."""

    client_id: str
    #: ``client_name``, or the client_id's host when the document has none.
    name: str
    #: The client_id's host (and port): what the document's publisher controls.
    host: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    client_uri: str | None = None
    #: Only the origin of ``logo_uri``: the page does not load images from elsewhere.
    logo_origin: str | None = None
    description: str = ""

    def as_client(self) -> Client:
        """The token endpoint's view: a public client (no secret, PKCE required)."""
        return Client(
            client_id=self.client_id,
            name=self.name,
            kind="oauth2_client",
            secret_sha256=b"",
            public=True,
            grant_types=self.grant_types,
            redirect_uris=self.redirect_uris,
        )


def _web_uri(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _MAX_URI_CHARS:
        raise _refuse(f"{field} must be a URL")
    parts = urlsplit(value)
    loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    if not (parts.scheme == "https" or loopback) or not parts.hostname:
        raise _refuse(f"{field} must be an https URL")
    return value


def _redirect_uri(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_URI_CHARS:
        raise _refuse("each redirect URI must be a URL")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise _refuse("each redirect URI must be a URL") from None
    if parts.fragment or "#" in value:
        raise _refuse("a redirect URI must not contain a fragment")
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return value
    if _PRIVATE_USE_SCHEME.match(parts.scheme):
        return value
    raise _refuse("a redirect URI must be https, http on a loopback host, or an app's own scheme")


def _auth_method(document: Mapping[str, Any]) -> None:
    if "client_secret" in document or "client_secret_expires_at" in document:
        raise _refuse("it must not contain a client_secret")
    method = document.get("token_endpoint_auth_method", "none")
    if method in _SHARED_SECRET_METHODS:
        raise _refuse(f"{method} needs a shared secret, which a metadata document cannot have")
    if method == "private_key_jwt":
        raise _refuse("private_key_jwt is not supported yet; use none (a public client)")
    if method != "none":
        raise _refuse("token_endpoint_auth_method must be none")
    jwks = document.get("jwks")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if isinstance(keys, list) and any(
        isinstance(k, dict) and _PRIVATE_JWK_MEMBERS & k.keys() for k in keys
    ):
        raise _refuse("it must not contain private key material")


def validate_document(url: str, body: bytes) -> ClientMetadata:
    """The client a fetched document describes, or :class:`InvalidClient` saying why not."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _refuse("it is not JSON") from None
    if not isinstance(document, dict):
        raise _refuse("it is not a JSON object")
    if document.get("client_id") != url:
        raise _refuse("its client_id is not the URL it was fetched from")
    _auth_method(document)
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        raise _refuse("redirect_uris must be a non-empty list")
    if len(uris) > _MAX_REDIRECT_URIS:
        raise _refuse(f"at most {_MAX_REDIRECT_URIS} redirect URIs are accepted")
    grant_types = document.get("grant_types", ["authorization_code"])
    if not isinstance(grant_types, list) or not all(isinstance(g, str) for g in grant_types):
        raise _refuse("grant_types must be a list of strings")
    name = document.get("client_name")
    if name is not None and (not isinstance(name, str) or len(name) > _MAX_NAME_CHARS):
        raise _refuse(f"client_name must be text of at most {_MAX_NAME_CHARS} characters")
    logo = _web_uri(document.get("logo_uri"), "logo_uri")
    parts = urlsplit(url)
    host = parts.netloc
    return ClientMetadata(
        client_id=url,
        name=name.strip() if isinstance(name, str) and name.strip() else host,
        host=host,
        redirect_uris=tuple(_redirect_uri(u) for u in uris),
        grant_types=tuple(g for g in PUBLIC_GRANT_TYPES if g in grant_types),
        client_uri=_web_uri(document.get("client_uri"), "client_uri"),
        logo_origin=f"{urlsplit(logo).scheme}://{urlsplit(logo).netloc}" if logo else None,
    )


def cache_seconds(cache_control: str | None) -> float:
    """How long to keep a valid document (RFC 9111 §5.2.2, bounded by ours)."""
    directives = (cache_control or "").lower()
    if re.search(r"(?:^|[\s,])(no-store|no-cache)(?:$|[\s,=])", directives):
        return 0.0
    found = _MAX_AGE.search(directives)
    if found is None:
        return DEFAULT_CACHE_SECONDS
    return min(max(float(found.group(1)), MIN_CACHE_SECONDS), MAX_CACHE_SECONDS)


class MetadataDocuments:
    """Resolves, validates and caches client ID metadata documents (one fetch per URL at a
    time). ``clock``: monotonic seconds (tests step it)."""

    def __init__(
        self,
        fetcher: PublicFetcher,
        *,
        failure_seconds: float = FAILURE_CACHE_SECONDS,
        max_cached: int = MAX_CACHED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._failure_seconds = failure_seconds
        self._max_cached = max_cached
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, ClientMetadata | InvalidClient]] = OrderedDict()
        self._loading: dict[str, asyncio.Task[ClientMetadata | InvalidClient]] = {}

    async def metadata(self, client_id: str) -> ClientMetadata | None:
        """``None`` when ``client_id`` is not a URL; the document's client; or
        :class:`InvalidClient` saying why it cannot be used."""
        if not is_client_id_url(client_id):
            return None
        check_client_id_url(client_id)
        cached = self._cache.get(client_id)
        if cached is not None and cached[0] > self._clock():
            self._cache.move_to_end(client_id)
            found = cached[1]
        else:
            task = self._loading.get(client_id)
            if task is None:
                task = asyncio.ensure_future(self._load(client_id))
                self._loading[client_id] = task
                task.add_done_callback(lambda _: self._loading.pop(client_id, None))
            # Shielded: a caller that goes away does not cancel the fetch the others wait for.
            found = await asyncio.shield(task)
        if isinstance(found, InvalidClient):
            raise InvalidClient(found.description)
        return found

    async def client(self, client_id: str) -> Client | None:
        """The token endpoint's fallback (:class:`authward.oauth.clients.ClientDirectory`)."""
        found = await self.metadata(client_id)
        return found.as_client() if found is not None else None

    async def _load(self, url: str) -> ClientMetadata | InvalidClient:
        found: ClientMetadata | InvalidClient
        try:
            fetched = await self._fetcher.get(url)
            found = self._validated(url, fetched)
            keep = cache_seconds(fetched.header("cache-control"))
        except FetchRefused as exc:
            found, keep = _refuse(str(exc)), self._failure_seconds
        except InvalidClient as exc:
            found, keep = exc, self._failure_seconds
        if isinstance(found, InvalidClient):
            log.info("client metadata document refused (%s)", found.description)
        self._cache.pop(url, None)
        if keep > 0:
            self._cache[url] = (self._clock() + keep, found)
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        return found

    @staticmethod
    def _validated(url: str, fetched: Fetched) -> ClientMetadata:
        if fetched.status != 200:
            raise _refuse(f"fetching it answered HTTP {fetched.status}, not 200")
        return validate_document(url, fetched.body)

    async def close(self) -> None:
        for task in list(self._loading.values()):
            task.cancel()
        self._loading.clear()
