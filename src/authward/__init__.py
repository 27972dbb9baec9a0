"""authward: one principal model from an inbound request to a job's outbound credentials."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authward.config import (
        Auth,
        Config,
        DynamicRegistration,
        Invoker,
        MachineUserSpec,
        OAuth2ClientSpec,
        ResourceServerSpec,
        UserProfileSpec,
        connection,
        db,
        define_auth,
        define_config,
        idp,
        t,
    )
    from authward.errors import AuthwardError, ConfigError, TokenError
    from authward.principal import Principal, current_principal, use_principal

__all__ = [
    "Auth",
    "AuthwardError",
    "Config",
    "ConfigError",
    "DynamicRegistration",
    "Invoker",
    "MachineUserSpec",
    "OAuth2ClientSpec",
    "Principal",
    "ResourceServerSpec",
    "TokenError",
    "UserProfileSpec",
    "connection",
    "current_principal",
    "db",
    "define_auth",
    "define_config",
    "idp",
    "t",
    "use_principal",
]

#: The module each name comes from. They are imported on first use, so a submodule imported by
#: itself (the CLI's, for `authward --help`) does not load the whole configuration language.
_HOMES = {
    **dict.fromkeys(("AuthwardError", "ConfigError", "TokenError"), "authward.errors"),
    **dict.fromkeys(("Principal", "current_principal", "use_principal"), "authward.principal"),
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'authward' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES.get(name, "authward.config")), name)
    globals()[name] = value
    return value
