"""Dynamic client registration (RFC 7591) and the clients it registered (decision 049).

    body = await aw.dynamic_clients.register(json_body, authorization=..., ip=...)  # 201
    client = await aw.dynamic_clients.find(client_id)     # the token and authorize endpoints
    await aw.dynamic_clients.revoke(client_id, actor=...) # and every grant it holds

A registration is counted against its address before anything else is looked at (at most
``registrations_per_address`` per window, then 429), then its initial access token is checked
when the app requires one (RFC 6750 Bearer, compared in constant time), then its metadata
(:mod:`authward.oauth.registration_metadata`). A confidential client's secret is returned once
and only its SHA-256 is stored (secrets are 256-bit random strings, decision 012).

Registered clients are used by the authorization and token endpoints like the config's public
clients (PKCE S256 always), through the client directories' fallback. They are kept in memory
like every view and looked for again, at most once a second, when an id is not there.
"""

from __future__ import annotations

__all__ = ["CLIENT_ID_PREFIX", "UNVERIFIED", "DynamicClients", "registered_metadata"]

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from authward.config.registration import Registration
from authward.oauth.clients import Client, secret_digest
from authward.oauth.errors import InvalidToken, TemporarilyUnavailable
from authward.oauth.failures import AttemptCounter
from authward.oauth.registration_metadata import client_metadata
from authward.oauth.registration_ports import RegisteredClientStorePort
from authward.observability import metrics
from authward.refreshing import Refreshing
from authward.store.audit import AuditEvent
from authward.store.limits import LimitPolicy, address_key, limit_key
from authward.store.registered_clients import RegisteredClientRow
from authward.tokens import opaque

#: Every registered client's id starts so: other ids are never looked for here.
CLIENT_ID_PREFIX = "awr_"
_SECRET_PREFIX = "awrs_"  # noqa: S105 - a prefix, not a secret
#: An id not held makes us read the registered clients again, but not more often than this.
_UNKNOWN_CLIENT_RELOAD = 1.0
#: What the consent page says under a registered client's name, which nobody checked.
UNVERIFIED = "This application registered itself; its name has not been verified."


def _now() -> datetime:
    return datetime.now(UTC)


def _client(row: RegisteredClientRow) -> Client:
    return Client(
        client_id=row.client_id,
        name=row.client_name or row.client_id,
        kind="oauth2_client",
        secret_sha256=bytes.fromhex(row.secret_sha256) if row.secret_sha256 else b"",
        public=row.secret_sha256 is None,
        grant_types=row.grant_types,
        redirect_uris=row.redirect_uris,
        description=UNVERIFIED,
    )


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class DynamicClients:
    """``registration``: the app's declaration (``None``: registration is off, but the clients
    registered before stay usable until revoked); ``attempts`` counts registrations per
    address; ``revoke_grants(client_id, reason)`` ends every grant of a client."""

    def __init__(
        self,
        store: RegisteredClientStorePort,
        *,
        registration: Registration | None,
        attempts: AttemptCounter,
        revoke_grants: Callable[[str, str], Awaitable[int]],
        refresh_seconds: float,
    ) -> None:
        self._store = store
        self.registration = registration
        self._attempts = attempts
        self._revoke_grants = revoke_grants
        self._policy: LimitPolicy | None = None
        self._token: bytes | None = None
        if registration is not None:
            window = timedelta(seconds=registration.window_seconds)
            self._policy = LimitPolicy(
                registration.registrations_per_address, window, window, window
            )
            token = registration.initial_access_token
            self._token = secret_digest(token.get_secret_value()) if token is not None else None
        self._view = Refreshing(
            self._load, refresh_seconds=refresh_seconds, what="the registered clients"
        )

    @property
    def enabled(self) -> bool:
        return self.registration is not None

    async def _load(self) -> dict[str, Client]:
        return {row.client_id: _client(row) for row in await self._store.list()}

    # -- lookups (the client directories' fallback) ---------------------------------------------

    async def find(self, client_id: str) -> Client | None:
        if not client_id.startswith(CLIENT_ID_PREFIX):
            return None
        found = (await self._view.get()).get(client_id)
        if found is None:
            found = (await self._view.loaded_within(_UNKNOWN_CLIENT_RELOAD)).get(client_id)
        return found

    def invalidate(self) -> None:
        self._view.invalidate()

    async def close(self) -> None:
        await self._view.close()

    # -- registration ---------------------------------------------------------------------------

    async def _count(self, ip: str | None) -> None:
        if ip is None or self._policy is None:
            return
        now = _now()
        taken = await self._attempts.take(
            [limit_key("register_ip", address_key(ip), self._policy)], now
        )
        if not taken.granted:
            metrics.rate_limited("registration")
            raise TemporarilyUnavailable(
                taken.retry_after_seconds(now), "too many client registrations from this address"
            )

    def _check_token(self, authorization: str | None) -> None:
        if self._token is None:
            return
        given = _bearer(authorization)
        if given is None:
            raise InvalidToken("this server requires an initial access token (Bearer)")
        if not hmac.compare_digest(secret_digest(given), self._token):
            raise InvalidToken("the initial access token is not valid")

    async def register(
        self, body: object, *, authorization: str | None, ip: str | None
    ) -> dict[str, Any]:
        """The RFC 7591 §3.2.1 response for ``body`` (the request's JSON), or an
        :class:`~authward.oauth.errors.OAuthError`."""
        if self.registration is None:
            raise RuntimeError("dynamic registration is off")
        await self._count(ip)
        self._check_token(authorization)
        meta = client_metadata(body, confidential_allowed=self.registration.confidential_clients)
        client_id = CLIENT_ID_PREFIX + secrets.token_urlsafe(24)
        secret = None if meta.public else opaque.generate(_SECRET_PREFIX)
        now = _now()
        row = RegisteredClientRow(
            client_id=client_id,
            secret_sha256=hashlib.sha256(secret.encode()).hexdigest() if secret else None,
            token_endpoint_auth_method=meta.token_endpoint_auth_method,
            application_type=meta.application_type,
            redirect_uris=meta.redirect_uris,
            grant_types=meta.grant_types,
            response_types=meta.response_types,
            client_name=meta.client_name,
            logo_uri=meta.logo_uri,
            client_uri=meta.client_uri,
            scope=meta.scope,
            created_at=now,
        )
        event = AuditEvent(
            "client.registered",
            now,
            client_id=client_id,
            ip=ip,
            detail={
                "application_type": meta.application_type,
                "token_endpoint_auth_method": meta.token_endpoint_auth_method,
                "client_name": meta.client_name,
            },
        )
        await self._store.add(row, event)
        self._view.invalidate()
        answer = registered_metadata(row)
        if secret is not None:
            answer["client_secret"] = secret
            answer["client_secret_expires_at"] = 0  # §3.2.1: it does not expire
        return answer

    # -- administration (CLI, management API) ---------------------------------------------------

    async def list(self) -> Sequence[RegisteredClientRow]:
        return await self._store.list()

    async def get(self, client_id: str) -> RegisteredClientRow | None:
        return await self._store.get(client_id)

    async def revoke(self, client_id: str, *, actor: str | None = None) -> bool:
        """Remove the client and end every grant it holds (refresh tokens and the access tokens
        issued from them); ``False`` when there is no such client."""
        now = _now()
        event = AuditEvent("client.registration_revoked", now, actor=actor, client_id=client_id)
        if not await self._store.delete(client_id, event):
            return False
        self._view.invalidate()
        await self._revoke_grants(client_id, "client-revoked")
        return True


def registered_metadata(row: RegisteredClientRow) -> dict[str, Any]:
    """The client's metadata as RFC 7591 §3.2.1 returns it (never a secret)."""
    answer: dict[str, Any] = {
        "client_id": row.client_id,
        "client_id_issued_at": int(row.created_at.timestamp()),
        "redirect_uris": list(row.redirect_uris),
        "token_endpoint_auth_method": row.token_endpoint_auth_method,
        "grant_types": list(row.grant_types),
        "response_types": list(row.response_types),
        "application_type": row.application_type,
    }
    for name in ("client_name", "client_uri", "logo_uri", "scope"):
        value = getattr(row, name)
        if value is not None:
            answer[name] = value
    return answer
