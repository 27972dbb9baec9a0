"""Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3).

Three methods: ``client_secret_basic`` (§2.3.1, HTTP Basic with the form-encoded id and secret),
``client_secret_post`` (the same two in the form body), and ``none`` for public clients (§2.1),
which send only ``client_id`` and prove possession through PKCE instead. A request using two
methods at once MUST be refused (§2.3). Confidential clients are the config's OAuth clients
without ``public=True`` and every machine user (its ``awm_`` client id, for
``client_credentials`` only).

Secrets are 256-bit random strings, so a single SHA-256 is as strong as a slow hash here (docs/
decisions/012): the directory keeps only digests, computed when it loads the sealed secrets,
and compares them in constant time.
"""

from __future__ import annotations

__all__ = [
    "AUTH_METHODS",
    "Client",
    "ClientDirectory",
    "ClientFallback",
    "ClientLoader",
    "ClientSource",
    "Presented",
    "authenticate",
    "client_loader",
    "presented",
    "secret_digest",
]

import binascii
import hashlib
import hmac
from base64 import b64decode
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import unquote_plus

from authward.config.auth import IdTokenAlg, OAuth2Client
from authward.oauth.errors import InvalidClient, InvalidRequest
from authward.refreshing import Refreshing
from authward.store.client_directory import OpenedClient, OpenedMachineUser
from authward.store.records import StoredMachineUser

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
#: Advertised as ``token_endpoint_auth_methods_supported``.
AUTH_METHODS: tuple[AuthMethod, ...] = ("client_secret_basic", "client_secret_post", "none")


def secret_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    kind: Literal["oauth2_client", "machine_user"]
    secret_sha256: bytes = field(repr=False)
    public: bool = False
    grant_types: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    access_token_lifetime_seconds: int | None = None
    refresh_token_lifetime_seconds: int | None = None
    refresh_token_absolute_lifetime_seconds: int | None = None
    refresh_token_rotation_grace_seconds: int | None = None
    require_dpop: bool = False
    id_token_alg: IdTokenAlg = "RS256"  # noqa: S105 - an algorithm name
    #: For a machine user: its stored row (what its tokens carry), so issuing reads nothing.
    machine_user: StoredMachineUser | None = None
    #: What the consent page says of the client under its name.
    description: str = ""


ClientLoader = Callable[[], Awaitable[list[Client]]]
#: Where a client the directory does not hold may be found (registered clients, decision 049;
#: client ID metadata documents, decision 048): the client, ``None`` when it does not handle that
#: id, or an :class:`InvalidClient`.
ClientFallback = Callable[[str], Awaitable[Client | None]]


class ClientSource(Protocol):
    """Where clients are kept (:class:`authward.store.client_directory.ClientSecrets`)."""

    async def load(self) -> tuple[Sequence[OpenedClient], Sequence[OpenedMachineUser]]: ...


def _oauth2_client(opened: OpenedClient, spec: OAuth2Client | None) -> Client:
    r = opened.row
    return Client(
        client_id=r.client_id,
        name=r.name,
        kind="oauth2_client",
        secret_sha256=secret_digest(opened.secret),
        public=spec.public if spec is not None else False,
        grant_types=tuple(r.grant_types),
        redirect_uris=tuple(r.redirect_uris),
        access_token_lifetime_seconds=r.access_token_lifetime_seconds,
        refresh_token_lifetime_seconds=r.refresh_token_lifetime_seconds,
        refresh_token_absolute_lifetime_seconds=(
            spec.refresh_token_absolute_lifetime_seconds if spec is not None else None
        ),
        refresh_token_rotation_grace_seconds=(
            spec.refresh_token_rotation_grace_seconds if spec is not None else None
        ),
        require_dpop=r.require_dpop,
        id_token_alg=spec.id_token_signed_response_alg if spec is not None else "RS256",
    )


def _machine_user(opened: OpenedMachineUser) -> Client:
    user = opened.machine_user
    return Client(
        client_id=user.client_id,
        name=user.name,
        kind="machine_user",
        secret_sha256=secret_digest(opened.secret),
        grant_types=("client_credentials",),
        machine_user=user,
    )


def client_loader(source: ClientSource, configured: Mapping[str, OAuth2Client]) -> ClientLoader:
    """Every stored client. ``configured`` (the config's clients by name) gives what only the
    config holds: which clients are public, their refresh grants' absolute lifetime and rotation
    grace, and their ID tokens' algorithm."""

    async def load() -> list[Client]:
        clients, machine_users = await source.load()
        return [
            *(_oauth2_client(c, configured.get(c.row.name)) for c in clients),
            *(_machine_user(m) for m in machine_users),
        ]

    return load


class ClientDirectory:
    """Every client by ``client_id``, in memory for at most ``refresh_seconds``, reloaded in
    the background ahead of time (a config sync in this process reloads it at once). A client
    it does not hold is asked of each of ``fallbacks`` in turn."""

    def __init__(
        self,
        load: ClientLoader,
        *,
        refresh_seconds: float,
        fallbacks: Sequence[ClientFallback] = (),
    ) -> None:
        async def by_id() -> dict[str, Client]:
            return {c.client_id: c for c in await load()}

        self.view = Refreshing(by_id, refresh_seconds=refresh_seconds, what="the OAuth clients")
        self._fallbacks = tuple(fallbacks)

    def invalidate(self) -> None:
        self.view.invalidate()

    async def get(self, client_id: str) -> Client | None:
        found = (await self.view.get()).get(client_id)
        for fallback in self._fallbacks:
            if found is not None:
                break
            found = await fallback(client_id)
        return found

    async def close(self) -> None:
        await self.view.close()


@dataclass(frozen=True, slots=True)
class Presented:
    """The credentials a request carries, before they are checked."""

    client_id: str
    secret: str | None = field(repr=False)
    method: AuthMethod


def _basic(authorization: str) -> tuple[str, str]:
    try:
        decoded = b64decode(authorization, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("the Basic credentials are not valid base64") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("the Basic credentials are not client_id:client_secret")
    # §2.3.1: both are form-encoded before they are joined.
    return unquote_plus(client_id), unquote_plus(secret)


def presented(form: Mapping[str, str], authorization: str | None) -> Presented:
    """Which method the request uses. ``authorization`` is the ``Authorization`` header."""
    basic = None
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            basic = _basic(value.strip())
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if basic is not None:
        if form_secret is not None:
            raise InvalidRequest("use one client authentication method: Basic or the form")
        if form_id is not None and form_id != basic[0]:
            raise InvalidRequest("client_id differs from the one in the Basic credentials")
        return Presented(basic[0], basic[1], "client_secret_basic")
    if form_id is None:
        raise InvalidClient("client authentication is required (no client_id)")
    if form_secret is not None:
        return Presented(form_id, form_secret, "client_secret_post")
    return Presented(form_id, None, "none")


async def authenticate(
    directory: ClientDirectory, form: Mapping[str, str], authorization: str | None
) -> Client:
    """The authenticated client, or :class:`InvalidClient` / :class:`InvalidRequest`."""
    creds = presented(form, authorization)
    client = await directory.get(creds.client_id)
    if client is None:
        raise InvalidClient("unknown client")
    if client.public:
        if creds.method != "none":
            raise InvalidClient("a public client has no secret: send only its client_id")
        return client
    if creds.secret is None:
        raise InvalidClient("this client must authenticate with its client secret")
    if not hmac.compare_digest(secret_digest(creds.secret), client.secret_sha256):
        raise InvalidClient("client authentication failed")
    return client
