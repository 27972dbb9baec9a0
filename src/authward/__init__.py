"""authward: one principal model from an inbound request to a job's outbound credentials."""

from authward.config import (
    Auth,
    Config,
    Invoker,
    MachineUserSpec,
    OAuth2ClientSpec,
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
    "Invoker",
    "MachineUserSpec",
    "OAuth2ClientSpec",
    "Principal",
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
