"""What the admin console and the self-service page are handed: the services they call, through
the same Protocols as the management API (:mod:`authward.server.management_ports`), and who the
admins are (decision 051)."""

from __future__ import annotations

__all__ = ["ConsoleServices"]

from dataclasses import dataclass

from authward.server.management_ports import (
    ApiKeyAdmin,
    AuditReader,
    ClientList,
    ConnectionAdmin,
    ConsentAdmin,
    MachineUserList,
    ManagedSessions,
    OrganizationAdmin,
    RegisteredClientAdmin,
    SecretRotator,
    UserAdmin,
)


@dataclass(frozen=True, slots=True)
class ConsoleServices:
    users: UserAdmin
    sessions: ManagedSessions
    api_keys: ApiKeyAdmin
    organizations: OrganizationAdmin
    connections: ConnectionAdmin
    consents: ConsentAdmin
    audit: AuditReader
    clients: ClientList
    machine_users: MachineUserList
    registered_clients: RegisteredClientAdmin
    secret_rotation: SecretRotator
    #: Usernames that are admins (``AUTHWARD_DASHBOARD_USERS``, decision 051).
    admins: frozenset[str]
