"""Bring the store in line with the config: idempotent, under the cross-process lock.

Running it twice changes nothing. Ids and secrets of the machine users and clients that stay are
kept. One the config no longer declares is deleted only when the caller asks to prune (its tokens
stop verifying); otherwise the sync refuses and changes nothing (decision 035).
"""

from __future__ import annotations

__all__ = ["SyncChange", "plan_sync", "sync_config"]

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authward.config.auth import Auth
from authward.crypto.secretbox import SecretBox
from authward.errors import PruneRequired
from authward.store.changes import bump
from authward.store.principals import client_secret_aad, machine_secret_aad
from authward.store.schema import machine_users, oauth2_clients

MACHINE_CLIENT_PREFIX = "awm_"
OAUTH_CLIENT_PREFIX = "awc_"
CLIENT_SECRET_PREFIX = "awsec_"  # noqa: S105 - a prefix, not a secret

_KINDS = {machine_users.name: "machine user", oauth2_clients.name: "oauth2 client"}


def new_client_secret() -> str:
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class SyncChange:
    """One machine user or client the sync adds, changes (``fields``) or removes."""

    action: Literal["add", "change", "remove"]
    table: str
    name: str
    fields: tuple[str, ...] = ()

    @property
    def what(self) -> str:
        return f"{_KINDS[self.table]} {self.name}"

    def __str__(self) -> str:
        if self.action == "add":
            return f"added {self.what}"
        if self.action == "change":
            return f"changed {self.what} ({', '.join(self.fields)})"
        return f"removed {self.what}"


def _wanted(auth: Auth[str]) -> dict[Any, dict[str, dict[str, Any]]]:
    users = {
        mu.name: {
            "attributes": {
                k: list(v) if isinstance(v, tuple) else v for k, v in mu.attributes.items()
            },
            "attribute_list": [str(u) for u in mu.attribute_list],
        }
        for mu in auth.machine_users.values()
    }
    clients = {
        c.name: {
            "description": c.description,
            "redirect_uris": list(c.redirect_uris),
            "grant_types": list(c.grant_types),
            "access_token_lifetime_seconds": c.access_token_lifetime_seconds,
            "refresh_token_lifetime_seconds": c.refresh_token_lifetime_seconds,
            "require_dpop": c.require_dpop,
        }
        for c in auth.oauth2_clients.values()
    }
    return {machine_users: users, oauth2_clients: clients}


async def _plan_table(
    conn: AsyncConnection, table: Any, wanted: dict[str, dict[str, Any]]
) -> tuple[list[SyncChange], dict[str, Any]]:
    cols = [table.c.id, table.c.name, *(table.c[k] for k in next(iter(wanted.values()), {}))]
    existing = {r["name"]: r for r in (await conn.execute(select(*cols))).mappings()}
    plan: list[SyncChange] = []
    for name, values in wanted.items():
        row = existing.get(name)
        if row is None:
            plan.append(SyncChange("add", table.name, name))
            continue
        fields = tuple(k for k, v in values.items() if row[k] != v)
        if fields:
            plan.append(SyncChange("change", table.name, name, fields))
    plan += [SyncChange("remove", table.name, n) for n in sorted(set(existing) - set(wanted))]
    return plan, existing


async def plan_sync(conn: AsyncConnection, auth: Auth[str]) -> list[SyncChange]:
    """What :func:`sync_config` would do, read without writing."""
    plan: list[SyncChange] = []
    for table, wanted in _wanted(auth).items():
        plan += (await _plan_table(conn, table, wanted))[0]
    return plan


async def sync_config(
    conn: AsyncConnection, auth: Auth[str], box: SecretBox, now: datetime, *, prune: bool = False
) -> list[SyncChange]:
    """Apply the config's machine users and clients inside ``conn``'s transaction.

    Without ``prune``, a machine user or client in the store that the config does not declare
    raises :class:`PruneRequired` before anything is written."""
    plans = []
    for table, wanted in _wanted(auth).items():
        plan, existing = await _plan_table(conn, table, wanted)
        plans.append((table, wanted, plan, existing))
    gone = [c for *_, plan, _ in plans for c in plan if c.action == "remove"]
    if gone and not prune:
        raise PruneRequired(tuple(c.what for c in gone))
    applied: list[SyncChange] = []
    for table, wanted, plan, existing in plans:
        aad = machine_secret_aad if table is machine_users else client_secret_aad
        prefix = MACHINE_CLIENT_PREFIX if table is machine_users else OAUTH_CLIENT_PREFIX
        for change in plan:
            if change.action == "add":
                row_id = uuid.uuid4()
                await conn.execute(
                    table.insert().values(
                        id=row_id,
                        name=change.name,
                        client_id=prefix + secrets.token_urlsafe(16),
                        client_secret=box.seal(new_client_secret().encode(), aad(row_id)),
                        created_at=now,
                        updated_at=now,
                        **wanted[change.name],
                    )
                )
            elif change.action == "change":
                await conn.execute(
                    update(table)
                    .where(table.c.id == existing[change.name]["id"])
                    .values(updated_at=now, **wanted[change.name])
                )
            else:
                await conn.execute(delete(table).where(table.c.id == existing[change.name]["id"]))
        if plan:
            await bump(conn, table)
        applied += plan
    return applied
