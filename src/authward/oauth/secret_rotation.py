"""New secrets for the OAuth clients and machine users the config declares (decision 052).

The config sync makes each one's secret once and keeps it; a rotation replaces it with a new
one, shown once. The old secret is refused at once by the token endpoint of this process (its
client directory is told), by other servers' within ``AUTHWARD_CACHE_REFRESH_SECONDS``. Tokens
issued before stay valid until they expire: revoke them separately when the secret leaked.
"""

from __future__ import annotations

__all__ = ["RotatedSecret", "SecretRotation", "SecretStore"]

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from authward.store.audit import AuditEvent
from authward.store.sync import new_client_secret


class SecretStore(Protocol):
    """:class:`authward.store.principals.ClientStore` and ``MachineUserStore``."""

    async def rotate_secret(
        self, name: str, secret: str, now: datetime, event: Callable[[str], AuditEvent]
    ) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    client_id: str
    client_secret: str = field(repr=False)


def _now() -> datetime:
    return datetime.now(UTC)


class SecretRotation:
    """``forget``: drops the token endpoint's cached client secrets in this process."""

    def __init__(
        self,
        clients: SecretStore,
        machine_users: SecretStore,
        *,
        forget: Callable[[], None],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._stores = {"client": clients, "machine_user": machine_users}
        self._forget = forget
        self._clock = clock

    async def rotate_client(self, name: str, *, actor: str | None = None) -> RotatedSecret | None:
        """A new secret for the declared OAuth client ``name`` (``client.secret_rotated``);
        None when the config declares none of that name."""
        return await self._rotate("client", name, actor)

    async def rotate_machine_user(
        self, name: str, *, actor: str | None = None
    ) -> RotatedSecret | None:
        """A new secret for the machine user ``name`` (``machine_user.secret_rotated``)."""
        return await self._rotate("machine_user", name, actor)

    async def _rotate(self, kind: str, name: str, actor: str | None) -> RotatedSecret | None:
        now = self._clock()
        secret = new_client_secret()

        def event(client_id: str) -> AuditEvent:
            return AuditEvent(
                f"{kind}.secret_rotated",
                now,
                actor=actor,
                subject=name,
                client_id=client_id,
            )

        client_id = await self._stores[kind].rotate_secret(name, secret, now, event)
        if client_id is None:
            return None
        self._forget()
        return RotatedSecret(client_id, secret)
