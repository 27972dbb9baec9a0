"""Which vault tokens were handed out while an auth resolver ran.

A resolver that reads the vault (``auth.users.get_oauth_access_token``) returns one of those
tokens; the job runtime matches it here to record the credential's lineage as "vault" and to know
which connection to mark broken when the provider refuses the token. Nothing is recorded outside
a resolver call (the variable is ``None`` there).
"""

from __future__ import annotations

__all__ = ["VaultRead", "note_vault_read", "vault_reads"]

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class VaultRead:
    connection_id: str
    provider: str
    account_id: str
    token: str = field(repr=False)


vault_reads: ContextVar[list[VaultRead] | None] = ContextVar("authward_vault_reads", default=None)


def note_vault_read(read: VaultRead) -> None:
    reads = vault_reads.get()
    if reads is not None:
        reads.append(read)
