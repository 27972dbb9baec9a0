"""Row shapes the stores hand out; secrets stay sealed until a caller asks for them."""

from __future__ import annotations

__all__ = ["StoredClient", "StoredKey", "StoredMachineUser"]

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class StoredKey:
    kid: str
    alg: str
    public_jwk: Mapping[str, Any]
    created_at: datetime
    retired_at: datetime | None
    publish_until: datetime | None
    #: Signs access tokens (or was the key that did); otherwise only ID tokens of its alg.
    signs_access: bool = True


@dataclass(frozen=True, slots=True)
class StoredMachineUser:
    id: UUID
    name: str
    attributes: Mapping[str, Any]
    attribute_list: tuple[str, ...]
    client_id: str
    created_at: datetime
    #: When it last got a token (written in batches, so up to a few seconds behind).
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredClient:
    id: UUID
    name: str
    client_id: str
    description: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    access_token_lifetime_seconds: int | None
    refresh_token_lifetime_seconds: int | None
    require_dpop: bool
    created_at: datetime
    #: When it last got a token (written in batches, so up to a few seconds behind).
    last_used_at: datetime | None = None
