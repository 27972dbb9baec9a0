"""The access-token view's source (tokens/token_views.py's ``TokenViewSource``) over the other
fakes: one signing key, the clients and machine users of a :class:`MemoryClientSource`, and the
revocations of a :class:`MemoryRevocations`."""

from __future__ import annotations

__all__ = ["MemoryTokenViewSource"]

from collections.abc import Mapping
from datetime import datetime

from authward.store.token_view import ViewChanges
from authward.tokens.keys import SigningKey
from tests.fakes.oauth import MemoryClientSource, MemoryRevocations


class MemoryTokenViewSource:
    """Every answer is a full read, which a view must take at any time (store/token_view.py
    gives one when a change counter went back)."""

    def __init__(
        self, key: SigningKey, clients: MemoryClientSource, revocations: MemoryRevocations
    ) -> None:
        self._key = key
        self._clients = clients
        self._revocations = revocations

    async def token_view_changes(
        self, since: Mapping[str, int] | None, now: datetime, revoked_after: datetime
    ) -> ViewChanges:
        key = self._key
        return ViewChanges(
            full=True,
            versions={},
            keys=[(key.kid, key.public_jwk, None)],
            signing=((key.kid, key.alg, key.private_pem), {}),
            machine_users=self._clients.machine_user_clients(),
            clients=self._clients.oauth_client_ids(),
            revoked=self._revocations.expiring_after(revoked_after),
        )
