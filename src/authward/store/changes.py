"""Change counters: one per table the token view reads, bumped inside the writing transaction.

A refresh of the view reads the counters and the rest in one snapshot, and re-reads a table only
when its counter moved (store/token_view.py, decision 041). Every writer of a counted table calls
:func:`bump` in its own transaction: a write that does not is seen only by a process's first
(full) load.

On PostgreSQL the UPDATE locks the counter's row until the writer commits, so writers of one
table take their numbers in the order they commit: a snapshot that shows version ``n`` shows
every row written at ``n`` or below. That is what lets the revocations be read by
``version > last seen``, with no window in which a row committed late is missed.
"""

from __future__ import annotations

__all__ = ["COUNTED", "bump"]

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authward.errors import StoreError
from authward.store.schema import (
    changes,
    machine_users,
    oauth2_clients,
    registered_clients,
    revoked_tokens,
    signing_keys,
)

#: The tables with a counter (migrations 0015 and 0016 make their rows).
COUNTED = (signing_keys, machine_users, oauth2_clients, revoked_tokens, registered_clients)

_BUMP = (
    update(changes)
    .where(changes.c.table_name == bindparam("name"))
    .values(version=changes.c.version + 1)
    .returning(changes.c.version)
)


async def bump(conn: AsyncConnection, table: Table) -> int:
    """Count a write to ``table`` in ``conn``'s transaction; returns the new version."""
    version = (await conn.execute(_BUMP, {"name": table.name})).scalar()
    if version is None:
        raise StoreError(f"no change counter for {table.name}: run `authward migrate`")
    return int(version)
