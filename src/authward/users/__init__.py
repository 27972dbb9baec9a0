"""Local users: accounts, profiles, argon2id passwords and throttled sign-in (``aw.users``)."""

from __future__ import annotations

__all__ = [
    "InvalidCredentials",
    "InvalidPassword",
    "LoginError",
    "LoginThrottled",
    "SignIn",
    "ThrottlePolicy",
    "UnknownUser",
    "UserAccount",
    "UserClaims",
    "UserError",
    "UsernameTaken",
    "Users",
]

from authward.users.errors import (
    InvalidCredentials,
    InvalidPassword,
    LoginError,
    LoginThrottled,
    UnknownUser,
    UserError,
    UsernameTaken,
)
from authward.users.service import Users
from authward.users.throttle import ThrottlePolicy
from authward.users.values import SignIn, UserAccount, UserClaims
