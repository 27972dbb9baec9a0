"""What user management and sign-in refuse.

    AuthwardError
    ├── UserError              a user operation is refused (``code`` says which way)
    │   ├── UsernameTaken      another user already has this username
    │   ├── UnknownUser        no user with this username (management calls, never sign-in)
    │   └── InvalidPassword    the new password breaks the policy (length)
    └── LoginError             sign-in refused (``login_failed``)
        ├── InvalidCredentials unknown user, wrong password or disabled: one message for all
        └── LoginThrottled     too many failures; ``retry_after_seconds`` says when to retry

Sign-in errors never say whether the username exists.
"""

from __future__ import annotations

__all__ = [
    "InvalidCredentials",
    "InvalidPassword",
    "LoginError",
    "LoginThrottled",
    "UnknownUser",
    "UserError",
    "UsernameTaken",
]

from authward.errors import AuthwardError


class UserError(AuthwardError):
    code = "invalid_user"


class UsernameTaken(UserError):
    code = "username_taken"

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"a user with username {username!r} already exists")


class UnknownUser(UserError):
    code = "unknown_user"

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"no user with username {username!r}")


class InvalidPassword(UserError):
    code = "invalid_password"


class LoginError(AuthwardError):
    code = "login_failed"


class InvalidCredentials(LoginError):
    def __init__(self) -> None:
        super().__init__("invalid username or password")


class LoginThrottled(LoginError):
    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            f"too many failed sign-in attempts: try again in {retry_after_seconds} seconds"
        )
