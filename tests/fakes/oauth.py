"""The OAuth core's other ports in memory: the audit log, the access-token revocation list,
the clients (as the store hands them over, secrets opened), the users, and DPoP's seen proofs."""

from __future__ import annotations

__all__ = [
    "MemoryAuditLog",
    "MemoryClientSource",
    "MemoryJtis",
    "MemoryRevocations",
    "MemoryUsers",
]

import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from authward.config.clients import OAuth2Client, parse_oauth2_clients
from authward.config.issues import Issues
from authward.store.audit import AuditEvent
from authward.store.client_directory import OpenedClient, OpenedMachineUser
from authward.store.records import StoredClient, StoredMachineUser
from authward.store.sync import MACHINE_CLIENT_PREFIX, OAUTH_CLIENT_PREFIX
from authward.users.service import UserAccount, UserClaims


class MemoryAuditLog:
    """``AuditLog``: the events, in the order they were recorded."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


class MemoryRevocations:
    """``AccessRevocations``, and the list every verifier's view reads."""

    def __init__(self) -> None:
        self._revoked: dict[str, tuple[datetime, str]] = {}

    async def revoke(self, jti: str, *, expires_at: datetime, now: datetime, reason: str) -> bool:
        if jti in self._revoked:
            return False
        self._revoked[jti] = (expires_at, reason)
        return True

    def expiring_after(self, after: datetime) -> list[tuple[str, int]]:
        """``(jti, expiry as POSIX seconds)`` of the revocations whose tokens expire after
        ``after``, as the token view reads them."""
        return [
            (jti, int(exp.timestamp())) for jti, (exp, _) in self._revoked.items() if exp > after
        ]

    def live(self, now: datetime) -> frozenset[str]:
        return frozenset(jti for jti, (exp, _) in self._revoked.items() if exp > now)

    def reason(self, jti: str) -> str | None:
        found = self._revoked.get(jti)
        return found[1] if found else None


class MemoryClientSource:
    """``ClientSource``: OAuth clients declared as in an app's config (validated by the config's
    own parser) and machine users, each with the client id and secret a sync would give it."""

    def __init__(self, clients: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        issues = Issues()
        #: The config's clients by name: what ``client_loader`` reads besides the store.
        self.configured: dict[str, OAuth2Client] = parse_oauth2_clients(clients or {}, issues)
        if issues.items:
            raise ValueError(f"invalid clients: {issues.items}")
        now = datetime.now(UTC)
        self._clients = {
            name: OpenedClient(
                StoredClient(
                    id=uuid.uuid4(),
                    name=name,
                    client_id=OAUTH_CLIENT_PREFIX + secrets.token_urlsafe(16),
                    description=c.description,
                    redirect_uris=c.redirect_uris,
                    grant_types=c.grant_types,
                    access_token_lifetime_seconds=c.access_token_lifetime_seconds,
                    refresh_token_lifetime_seconds=c.refresh_token_lifetime_seconds,
                    require_dpop=c.require_dpop,
                    created_at=now,
                ),
                secrets.token_urlsafe(32),
            )
            for name, c in self.configured.items()
        }
        self._machine_users: dict[str, OpenedMachineUser] = {}

    def add_machine_user(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        attribute_list: tuple[str, ...] = (),
    ) -> StoredMachineUser:
        user = StoredMachineUser(
            id=uuid.uuid4(),
            name=name,
            attributes=dict(attributes or {}),
            attribute_list=attribute_list,
            client_id=MACHINE_CLIENT_PREFIX + secrets.token_urlsafe(16),
            created_at=datetime.now(UTC),
        )
        self._machine_users[name] = OpenedMachineUser(user, secrets.token_urlsafe(32))
        return user

    def credentials(self, name: str) -> tuple[str, str]:
        """``(client_id, client_secret)`` of the client or machine user ``name``."""
        opened = self._clients.get(name)
        if opened is not None:
            return opened.row.client_id, opened.secret
        user = self._machine_users[name]
        return user.machine_user.client_id, user.secret

    def oauth_client_ids(self) -> frozenset[str]:
        return frozenset(c.row.client_id for c in self._clients.values())

    def machine_user_clients(self) -> dict[str, str]:
        """Machine-user id (a token's ``sub``) -> its client id, as the token view holds them."""
        users = (m.machine_user for m in self._machine_users.values())
        return {str(u.id): u.client_id for u in users}

    async def load(self) -> tuple[list[OpenedClient], list[OpenedMachineUser]]:
        return list(self._clients.values()), list(self._machine_users.values())


class MemoryUsers:
    """``UserDirectory``: accounts and what tokens say about them, as ``Users`` answers."""

    def __init__(self) -> None:
        self._accounts: dict[str, UserAccount] = {}
        self._claims: dict[str, UserClaims] = {}

    def add(
        self,
        username: str,
        *,
        email: str | None = None,
        attribute_map: Mapping[str, Any] | None = None,
    ) -> UserClaims:
        user_id = str(uuid.uuid4())
        self._accounts[user_id] = UserAccount(
            id=user_id,
            username=username,
            profile_id=None,
            disabled=False,
            created_at=datetime.now(UTC),
        )
        claims = self._claims[user_id] = UserClaims(
            user_id=user_id,
            username=username,
            profile={},
            attribute_map=dict(attribute_map or {}),
            attribute_list=[],
            email=email,
            email_verified=email is not None,
        )
        return claims

    async def get(self, user_id: str) -> UserAccount | None:
        return self._accounts.get(user_id)

    async def claims(self, user_id: str) -> UserClaims | None:
        return self._claims.get(user_id)


class MemoryJtis:
    """DPoP's ``JtiStore``: a proof's key is refused again until it expires."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._seen: dict[str, int] = {}
        self._clock = clock

    async def remember(self, key: str, expires_at: int) -> bool:
        seen = self._seen.get(key)
        if seen is not None and seen > self._clock():
            return False
        self._seen[key] = expires_at
        return True
