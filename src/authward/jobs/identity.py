"""Who a run acts as: the principal snapshotted into the run row, and ``auth.invoker(...)``."""

from __future__ import annotations

__all__ = ["describe_principal", "invoker_principal", "principal_from_json", "principal_to_json"]

from typing import TYPE_CHECKING, Any

from authward.config.auth import Invoker
from authward.errors import ConfigError, SettingsError
from authward.principal import Principal
from authward.tokens.verifier import principal_from_claims

if TYPE_CHECKING:
    from authward.jobs.ports import MachineUserDirectory


def principal_to_json(principal: Principal) -> dict[str, Any]:
    return {
        "authenticator": principal.authenticator,
        "principal_type": principal.principal_type,
        "principal_id": principal.principal_id,
        "subject": principal.subject,
        "attributes": {
            k: list(v) if isinstance(v, tuple) else v for k, v in principal.attributes.items()
        },
        "attribute_list": [str(u) for u in principal.attribute_list],
    }


def principal_from_json(data: dict[str, Any]) -> Principal:
    return Principal(
        authenticator=data["authenticator"],
        principal_type=data["principal_type"],
        principal_id=data["principal_id"],
        subject=data["subject"],
        attributes=data.get("attributes") or {},
        attribute_list=tuple(data.get("attribute_list") or ()),
    )


def describe_principal(principal: Principal) -> str:
    """What the dashboard shows in the invoker column."""
    return f"{principal.principal_type}:{principal.subject}"


async def invoker_principal(
    machine_users: MachineUserDirectory, auth_name: str, invoker: Invoker
) -> tuple[str, Principal]:
    """The machine user's principal, exactly as a token of that machine user verifies to.
    ``auth_name`` is this app's auth: the invoker must come from it."""
    if invoker.auth_name != auth_name:
        raise ConfigError(
            f"auth_invoker comes from auth {invoker.auth_name!r}, this app's auth is {auth_name!r}",
            path="auth_invoker",
        )
    stored = await machine_users.get(invoker.machine_user)
    if stored is None:
        raise SettingsError(
            f"machine user {invoker.machine_user!r} is not in the store: run `authward migrate`"
        )
    claims = {
        "sub": str(stored.id),
        "attribute_map": dict(stored.attributes),
        "attributes": list(stored.attribute_list),
    }
    return f"machine-user:{invoker.machine_user}", principal_from_claims(claims)
