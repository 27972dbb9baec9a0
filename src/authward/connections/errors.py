"""What the vault refuses with. Messages name the provider and the account, never a token."""

from __future__ import annotations

__all__ = [
    "ConnectionBroken",
    "ConnectionUnavailable",
    "ConnectionsError",
    "UnknownConnectionProvider",
]

from authward.errors import AuthwardError


def _whose(account_id: str | None) -> str:
    return f"account {account_id!r}" if account_id else "the developer"


class ConnectionsError(AuthwardError):
    code = "connection_error"


class UnknownConnectionProvider(ConnectionsError):
    code = "unknown_connection_provider"

    def __init__(self, provider: str, known: list[str]) -> None:
        self.provider = provider
        names = ", ".join(sorted(known)) or "none are configured"
        super().__init__(
            f"no connection provider {provider!r} (known: {names}; add it to "
            "define_auth(connections=[...]))"
        )


class ConnectionBroken(ConnectionsError):
    """The provider refused the connection's token or refresh token: it stays refused until the
    account connects again (``/connections``) or the developer stores a new token."""

    code = "connection_broken"

    def __init__(self, provider: str, account_id: str | None, reason: str) -> None:
        self.provider = provider
        self.account_id = account_id
        self.reason = reason
        fix = (
            "the account must connect it again at /connections"
            if account_id
            else "store a new one with `authward connection add-developer`"
        )
        super().__init__(
            f"the {provider} connection of {_whose(account_id)} is broken ({reason}): {fix}"
        )


class ConnectionUnavailable(ConnectionsError):
    """The token needed a refresh and the provider could not give one now (unreachable, 5xx, or
    it refused authward's client): transient or a configuration problem, not the account's."""

    code = "connection_unavailable"

    def __init__(self, provider: str, account_id: str | None, detail: str) -> None:
        self.provider = provider
        self.account_id = account_id
        super().__init__(
            f"the {provider} token of {_whose(account_id)} expired and could not be refreshed "
            f"({detail})"
        )
