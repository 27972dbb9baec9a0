"""What the users service hands out (accounts, claims, sign-ins), and the username rules."""

from __future__ import annotations

__all__ = ["SignIn", "UserAccount", "UserClaims"]

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from authward.users.errors import UserError

if TYPE_CHECKING:
    from authward.identity.session_types import SessionInfo

_MAX_USERNAME = 320  # the longest email address


@dataclass(frozen=True, slots=True)
class UserAccount:
    id: str
    username: str
    profile_id: str | None
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserClaims:
    user_id: str
    username: str
    #: The profile record, JSON-safe (uuids and datetimes as strings).
    profile: dict[str, Any]
    #: The profile's fields enabled in ``user_profile.attributes``.
    attribute_map: dict[str, Any]
    #: Values of the ``user_profile.attribute_list`` fields, as UUID strings (empty ones dropped).
    attribute_list: list[str]
    email: str | None
    email_verified: bool
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class SignIn:
    """A password sign-in that started a browser session (:meth:`Users.sign_in`)."""

    account: UserAccount
    session: SessionInfo
    #: For the browser's ``__session_secret`` cookie; only its digest is stored.
    secret: str


def account_of(row: Any) -> UserAccount:
    """The account of a row of the user store (columns by name)."""
    return UserAccount(
        id=str(row.id),
        username=row.username,
        profile_id=str(row.profile_id) if row.profile_id is not None else None,
        disabled=row.disabled,
        created_at=row.created_at,
    )


def could_be_username(username: object) -> bool:
    """Whether a username given at sign-in or lookup can be in the store at all."""
    return (
        isinstance(username, str) and 0 < len(username) <= _MAX_USERNAME and "\x00" not in username
    )


def check_username(username: str) -> None:
    if not isinstance(username, str) or not username:
        raise UserError("the username must be a non-empty string")
    if username != username.strip() or not username.isprintable():
        raise UserError("the username cannot have surrounding spaces or control characters")
    if len(username) > _MAX_USERNAME:
        raise UserError(f"the username must be at most {_MAX_USERNAME} characters")
