"""Bring the store in line with the config: idempotent, under the cross-process lock.

Running it twice changes nothing. A machine user or client removed from the config is deleted,
so its tokens stop verifying; ids and secrets of the ones that stay are kept.
"""

from __future__ import annotations

__all__ = ["sync_config"]

import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authward.config.auth import Auth
from authward.crypto.secretbox import SecretBox
from authward.store.principals import client_secret_aad, machine_secret_aad
from authward.store.schema import machine_users, oauth2_clients

MACHINE_CLIENT_PREFIX = "awm_"
OAUTH_CLIENT_PREFIX = "awc_"
CLIENT_SECRET_PREFIX = "awsec_"  # noqa: S105 - a prefix, not a secret


def new_client_secret() -> str:
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)


async def _sync_rows(
    conn: AsyncConnection,
    table: Any,
    wanted: dict[str, dict[str, Any]],
    *,
    client_prefix: str,
    aad: Any,
    box: SecretBox,
    now: datetime,
) -> list[str]:
    changes: list[str] = []
    existing = {r["name"]: r for r in (await conn.execute(select(table))).mappings()}
    for name, values in wanted.items():
        row = existing.get(name)
        if row is None:
            row_id = uuid.uuid4()
            await conn.execute(
                table.insert().values(
                    id=row_id,
                    name=name,
                    client_id=client_prefix + secrets.token_urlsafe(16),
                    client_secret=box.seal(new_client_secret().encode(), aad(row_id)),
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
            changes.append(f"added {table.name}[{name}]")
        elif any(row[k] != v for k, v in values.items()):
            await conn.execute(
                update(table).where(table.c.id == row["id"]).values(updated_at=now, **values)
            )
            changes.append(f"updated {table.name}[{name}]")
    gone = sorted(set(existing) - set(wanted))
    if gone:
        await conn.execute(delete(table).where(table.c.name.in_(gone)))
        changes += [f"removed {table.name}[{name}]" for name in gone]
    return changes


async def sync_config(
    conn: AsyncConnection, auth: Auth[str], box: SecretBox, now: datetime
) -> list[str]:
    """Apply the config's machine users and clients inside ``conn``'s transaction."""
    wanted_users = {
        mu.name: {
            "attributes": {
                k: list(v) if isinstance(v, tuple) else v for k, v in mu.attributes.items()
            },
            "attribute_list": [str(u) for u in mu.attribute_list],
        }
        for mu in auth.machine_users.values()
    }
    wanted_clients = {
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
    changes = await _sync_rows(
        conn,
        machine_users,
        wanted_users,
        client_prefix=MACHINE_CLIENT_PREFIX,
        aad=machine_secret_aad,
        box=box,
        now=now,
    )
    changes += await _sync_rows(
        conn,
        oauth2_clients,
        wanted_clients,
        client_prefix=OAUTH_CLIENT_PREFIX,
        aad=client_secret_aad,
        box=box,
        now=now,
    )
    return changes
