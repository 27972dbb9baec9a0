"""What the job runtime needs from the rest of authward, and its own settings.

The composition root (``authward.runtime``) hands :class:`JobPorts` to
:class:`~authward.jobs.runtime.JobsRuntime`: the connected-accounts vault
(:class:`~authward.connections.vault.ConnectionVault`) as the :class:`CredentialVault`, the
machine-user store as the :class:`MachineUserDirectory`, the instance key's
:class:`~authward.crypto.secretbox.SecretBox` as the :class:`Sealer`, and the database the
runs are kept in (DBOS, the engine, keeps its own state beside it: ``jobs/engine.py``).
"""

from __future__ import annotations

__all__ = [
    "CredentialVault",
    "JobPorts",
    "JobSettings",
    "JobSettingsSource",
    "MachineUserDirectory",
    "Sealer",
]

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from authward.connections.values import Credentials
    from authward.store.records import StoredMachineUser


class Sealer(Protocol):
    """Authenticated encryption bound to associated data (webhook registrations' secrets)."""

    def seal(self, plaintext: bytes, aad: str) -> bytes: ...
    def open(self, blob: bytes, aad: str) -> bytes: ...


class CredentialVault(Protocol):
    """What runs need of the connected-accounts vault: the developer's own connection, and
    marking a connection broken when its provider refuses the token."""

    async def developer_credentials(self, provider: str) -> Credentials | None: ...
    async def mark_broken(self, connection_id: str, reason: str) -> None: ...


class MachineUserDirectory(Protocol):
    """The stored machine users ``auth_invoker=auth.invoker(name)`` runs act as."""

    async def get(self, name: str) -> StoredMachineUser | None: ...


class JobSettingsSource(Protocol):
    """The settings (docs/settings.md) a :class:`JobSettings` is read from, and only those."""

    @property
    def environment(self) -> str: ...
    @property
    def jobs_concurrency(self) -> int: ...
    @property
    def jobs_worker_id(self) -> str: ...
    @property
    def jobs_recovery_seconds(self) -> float: ...
    @property
    def jobs_poll_seconds(self) -> float: ...
    @property
    def jobs_max_claims(self) -> int: ...
    @property
    def cache_refresh_seconds(self) -> float: ...


@dataclass(frozen=True, slots=True)
class JobSettings:
    """The job runtime's slice of the settings (docs/settings.md) and of the config."""

    #: The app's auth name: ``auth_invoker`` must come from it.
    auth_name: str
    #: Where dynamic triggers' webhooks are delivered (``<issuer>/webhooks/<id>``).
    issuer: str
    environment: str
    concurrency: int
    worker_id: str
    recovery_seconds: float
    poll_seconds: float
    max_claims: int
    #: How long webhook registrations are trusted before they are read again.
    refresh_seconds: float

    @classmethod
    def of(cls, settings: JobSettingsSource, auth_name: str, issuer: str) -> JobSettings:
        """The job runtime's slice: ``AUTHWARD_JOBS_*``, the environment, the refresh."""
        return cls(
            auth_name=auth_name,
            issuer=issuer,
            environment=settings.environment,
            concurrency=settings.jobs_concurrency,
            worker_id=settings.jobs_worker_id,
            recovery_seconds=settings.jobs_recovery_seconds,
            poll_seconds=settings.jobs_poll_seconds,
            max_claims=settings.jobs_max_claims,
            refresh_seconds=settings.cache_refresh_seconds,
        )


@dataclass(frozen=True, slots=True)
class JobPorts:
    """Everything a :class:`~authward.jobs.runtime.JobsRuntime` is built from; ``aw.jobs.ports``
    builds another one on the same store (``JobsRuntime(aw.jobs.ports, clients, clock=...)``)."""

    engine: AsyncEngine
    sealer: Sealer
    vault: CredentialVault
    machine_users: MachineUserDirectory
    settings: JobSettings
