"""The connected-accounts vault: third-party OAuth tokens accounts connected (issue 6).

See docs/connected-accounts.md. ``aw.connections`` is a :class:`ConnectionVault`;
``auth.users.get_oauth_access_token(account_id, "oauth_slack")`` reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authward.connections.errors import (
        ConnectionBroken,
        ConnectionsError,
        ConnectionUnavailable,
        UnknownConnectionProvider,
    )
    from authward.connections.values import ConnectionInfo, OAuthAccessToken
    from authward.connections.vault import ConnectionVault

__all__ = [
    "ConnectionBroken",
    "ConnectionInfo",
    "ConnectionUnavailable",
    "ConnectionVault",
    "ConnectionsError",
    "OAuthAccessToken",
    "UnknownConnectionProvider",
]


def __getattr__(name: str) -> Any:
    # Lazy: the job runtime imports connections.reads and connections.errors, and needs neither
    # the vault nor its HTTP client.
    if name == "ConnectionVault":
        from authward.connections import vault

        return vault.ConnectionVault
    if name in ("ConnectionInfo", "OAuthAccessToken"):
        from authward.connections import values

        return getattr(values, name)
    if name in __all__:
        from authward.connections import errors

        return getattr(errors, name)
    raise AttributeError(name)
