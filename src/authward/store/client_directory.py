"""Load every client the token endpoint authenticates: OAuth clients and machine users, with
their sealed secrets opened just long enough to keep a digest."""

from __future__ import annotations

__all__ = ["load_clients"]

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from authward.config.auth import OAuth2Client
from authward.crypto.secretbox import SecretBox
from authward.oauth.clients import Client, secret_digest
from authward.store.direct import all_rows
from authward.store.principals import client_secret_aad, machine_secret_aad
from authward.store.records import StoredMachineUser
from authward.store.schema import machine_users, oauth2_clients

_CLIENTS = select(oauth2_clients)
_MACHINE_USERS = select(machine_users)


async def load_clients(
    engine: AsyncEngine, box: SecretBox, configured: Mapping[str, OAuth2Client]
) -> list[Client]:
    """``configured`` (the config's clients by name) gives what only the config holds: which
    clients are public, and their refresh grants' absolute lifetime and rotation grace."""
    client_rows, user_rows = await all_rows(engine, [(_CLIENTS, {}), (_MACHINE_USERS, {})])
    out: list[Client] = []
    for r in client_rows:
        spec = configured.get(r.name)
        secret = box.open(r.client_secret, client_secret_aad(r.id)).decode()
        out.append(
            Client(
                client_id=r.client_id,
                name=r.name,
                kind="oauth2_client",
                secret_sha256=secret_digest(secret),
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
        )
    for r in user_rows:
        secret = box.open(r.client_secret, machine_secret_aad(r.id)).decode()
        out.append(
            Client(
                client_id=r.client_id,
                name=r.name,
                kind="machine_user",
                secret_sha256=secret_digest(secret),
                grant_types=("client_credentials",),
                machine_user=StoredMachineUser(
                    id=r.id,
                    name=r.name,
                    attributes=r.attributes,
                    attribute_list=tuple(r.attribute_list),
                    client_id=r.client_id,
                    created_at=r.created_at,
                ),
            )
        )
    return out
