"""The declarative side of authward: ``define_auth``, ``define_config``, ``db``, ``t``, ``idp``."""

from authward.config import connection, db, idp, t
from authward.config.app import Config, define_config
from authward.config.auth import (
    Auth,
    Invoker,
    MachineUser,
    MachineUserSpec,
    OAuth2Client,
    OAuth2ClientSpec,
    UserProfile,
    UserProfileSpec,
    define_auth,
)
from authward.config.loader import load_app
from authward.config.registration import DynamicRegistration
from authward.config.resources import ResourceServer, ResourceServerSpec

__all__ = [
    "Auth",
    "Config",
    "DynamicRegistration",
    "Invoker",
    "MachineUser",
    "MachineUserSpec",
    "OAuth2Client",
    "OAuth2ClientSpec",
    "ResourceServer",
    "ResourceServerSpec",
    "UserProfile",
    "UserProfileSpec",
    "connection",
    "db",
    "define_auth",
    "define_config",
    "idp",
    "load_app",
    "t",
]
