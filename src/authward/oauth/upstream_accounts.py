"""Which local user an external identity signs in as (docs/external-idp.md).

1. ``(provider, sub)`` already linked: that user (refused when disabled).
2. A local user already has the username (by default the upstream email): linked only when the
   provider is configured with ``link_by_verified_email`` and says the email is verified;
   otherwise refused, so an upstream account never silently takes over a local one.
3. Otherwise a new user is created with the mapped profile (its hooks and validators apply; a
   refused profile writes nothing) and linked.
"""

from __future__ import annotations

__all__ = ["Resolution", "resolve_user"]

from dataclasses import dataclass
from datetime import UTC, datetime

from authward.config.idp import IdProvider
from authward.errors import RecordError
from authward.oauth.upstream_values import UpstreamError, UpstreamIdentity
from authward.store.identities import ExternalIdentities
from authward.users import UserAccount, UserError, UsernameTaken, Users


@dataclass(frozen=True, slots=True)
class Resolution:
    user: UserAccount
    #: "existing" (linked before), "linked" (an existing user linked now), "created"
    outcome: str


def _disabled() -> UpstreamError:
    return UpstreamError("user_disabled", "This account is disabled.", status=403)


async def resolve_user(
    users: Users,
    identities: ExternalIdentities,
    provider: IdProvider,
    identity: UpstreamIdentity,
    *,
    now: datetime | None = None,
) -> Resolution:
    now = now or datetime.now(UTC)
    # Two rounds at most: the second only after losing a race to create or link the same identity.
    for _ in range(2):
        link = await identities.find(provider.name, identity.subject)
        if link is not None:
            user = await users.get(link.user_id)
            if user is None:  # deleted between the two reads; its link went with it
                continue
            if user.disabled:
                raise _disabled()
            await identities.touch(provider.name, identity.subject, now)
            return Resolution(user, "existing")
        existing = await users.find(identity.username)
        if existing is not None:
            if not provider.link_by_verified_email:
                raise UpstreamError(
                    "account_exists",
                    f"An account for {identity.username} already exists here. Sign in with it "
                    f"first; it cannot be taken over by a {provider.name} sign-in.",
                    status=403,
                )
            if not identity.email_verified:
                raise UpstreamError(
                    "email_not_verified",
                    f"An account for {identity.username} already exists here, and "
                    f"{provider.name} has not verified that this email address is yours.",
                    status=403,
                )
            if existing.disabled:
                raise _disabled()
            if await identities.link(
                provider.name,
                identity.subject,
                existing.id,
                email=identity.email,
                now=now,
                existing_user=True,
            ):
                return Resolution(existing, "linked")
            continue
        try:
            user = await users.create(
                identity.username,
                None,
                profile=dict(identity.profile),
                email_verified=identity.email_verified
                and identity.email in (identity.username, identity.profile.get("email")),
            )
        except UsernameTaken:
            continue
        except RecordError as exc:
            raise UpstreamError(
                "profile_invalid",
                f"Your {provider.name} profile cannot be used here: {exc}",
            ) from None
        except UserError as exc:
            raise UpstreamError(
                "username_invalid", f"Your {provider.name} account cannot be used here: {exc}"
            ) from None
        if await identities.link(
            provider.name,
            identity.subject,
            user.id,
            email=identity.email,
            now=now,
            existing_user=False,
        ):
            return Resolution(user, "created")
    raise UpstreamError("conflict", "Signing in collided with another sign-in. Please try again.")
