"""The ports the users service declares: where users are kept, the profile records, and what it
needs of sessions and of the connected-accounts vault. :class:`authward.store.users.UserStore`,
:class:`authward.store.type_records.Records`, :class:`authward.identity.sessions.Sessions` and
:class:`authward.connections.vault.ConnectionVault` implement them."""

from __future__ import annotations

__all__ = ["OAuthTokenSource", "ProfileRecords", "UserSessions", "UserStorePort"]

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from authward.connections.values import OAuthAccessToken
    from authward.identity.session_types import NewSession
    from authward.principal import Principal
    from authward.store.audit import AuditEvent
    from authward.store.limits import LimitKey, Taken
    from authward.store.users import Rehash


class UserStorePort(Protocol):
    """Where users are kept (:class:`authward.store.users.UserStore`). Rows read by column
    name: ``id``, ``username``, ``profile_id``, ``password_hash``, ``disabled``,
    ``email_verified``, ``created_at``, ``updated_at``."""

    async def insert(self, row: Mapping[str, Any], event: AuditEvent) -> bool: ...
    async def get(self, user_id: UUID) -> Any | None: ...
    async def find(self, username: str) -> Any | None: ...
    async def list(self) -> builtins.list[Any]: ...
    async def page(
        self, *, after: str | None, limit: int, contains: str | None = None
    ) -> builtins.list[Any]: ...
    async def set_disabled(
        self, username: str, disabled: bool, now: datetime, event: Callable[[str], AuditEvent]
    ) -> Any | None: ...
    async def set_password(
        self, username: str, password_hash: str, now: datetime, event: Callable[[str], AuditEvent]
    ) -> bool: ...
    async def take_attempt(
        self, keys: Sequence[LimitKey], now: datetime, username: str | None
    ) -> Taken: ...
    async def record_refusal(self, event: AuditEvent, *, prune: datetime | None) -> None: ...
    async def record_login(
        self,
        events: Sequence[AuditEvent],
        *,
        cleared: LimitKey,
        returned: LimitKey | None,
        rehash: Rehash | None = None,
        session: Mapping[str, Any] | None = None,
    ) -> None: ...


class ProfileRecords(Protocol):
    """The records of the app's ``user_profile`` type
    (:class:`authward.store.type_records.Records`): its hooks and validators apply."""

    async def create(
        self, values: Mapping[str, object], *, user: Principal | None
    ) -> dict[str, object]: ...
    async def get(self, id: UUID | str) -> dict[str, object] | None: ...
    async def delete(self, id: UUID | str) -> bool: ...


class UserSessions(Protocol):
    """What users need of sessions (:class:`authward.identity.sessions.Sessions`): a session
    to store with the sign-in's own rows, and signing a user out everywhere."""

    def new(
        self,
        user_id: str,
        *,
        claims: Mapping[str, Any] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        lifetime: timedelta | int = ...,
        actor: str | None = None,
    ) -> NewSession: ...
    async def revoke_all(
        self, user_id: str, *, except_session: str | None = None, actor: str | None = None
    ) -> int: ...


class OAuthTokenSource(Protocol):
    """What users need of the connected-accounts vault (``aw.connections``)."""

    async def get_oauth_access_token(
        self, account_id: str, provider: str
    ) -> builtins.list[OAuthAccessToken]: ...
