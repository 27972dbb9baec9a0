"""Which runtime serves ``auth.users`` for a config (docs/decisions/042).

``define_auth`` returns a frozen config that cannot import the runtime, yet the seed's resolvers
read ``await auth.users.get_oauth_access_token(...)``. The runtime that opens a config joins
:data:`OPENED` with the users it serves and leaves when it closes; ``Auth.users`` asks
:data:`OPENED`. Nothing is written into the config object. With several runtimes open on one
config, the one opened last serves it until it closes, then the one before it.
"""

from __future__ import annotations

__all__ = ["OPENED", "AuthUsers", "OpenedConfigs"]

import weakref
from typing import Any, Protocol


class AuthUsers(Protocol):
    """What ``auth.users`` offers once a runtime has opened the config (``aw.users``)."""

    async def get_oauth_access_token(self, account_id: str, provider: str) -> list[Any]: ...


class OpenedConfigs:
    """The users each open config is served by, newest last. Held weakly by config: a config
    nobody keeps is forgotten with its entry."""

    def __init__(self) -> None:
        self._serving: weakref.WeakKeyDictionary[object, list[AuthUsers]] = (
            weakref.WeakKeyDictionary()
        )

    def join(self, auth: object, users: AuthUsers) -> None:
        """``users`` serve ``auth`` from now on (a runtime opened it)."""
        self._serving.setdefault(auth, []).append(users)

    def leave(self, auth: object, users: AuthUsers) -> None:
        """``users`` no longer serve ``auth`` (their runtime closed); an earlier one still open
        serves it again."""
        serving = self._serving.get(auth, [])
        for i in range(len(serving) - 1, -1, -1):
            if serving[i] is users:
                del serving[i]
                break
        if not serving:
            self._serving.pop(auth, None)

    def users(self, auth: object) -> AuthUsers | None:
        serving = self._serving.get(auth)
        return serving[-1] if serving else None


#: The one registry: ``Authward.open`` joins it, ``Authward.close`` leaves it.
OPENED = OpenedConfigs()
