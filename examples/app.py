"""The example auth. ``authward serve --app examples/app.py`` serves it (data in ./authward.db)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from authward import Principal, db, define_auth, define_config

if TYPE_CHECKING:  # written by `authward generate --app examples/app.py`
    from authward_types import AppAuth, MachineUsers


def only_admins_make_admins(user: Principal | None, value: object, **_: object) -> bool:
    return value != "ADMIN" or (user is not None and user.attributes.get("role") == "ADMIN")


user = (
    db.type(
        "User",
        {
            "email": db.string().unique(),
            "role": db.enum(["ADMIN", "READER", "USER"]),
            "organization_id": db.uuid(),
            "team_id": db.uuid(),
            **db.fields.timestamps(),
        },
    )
    .hooks(
        # New users get the USER role unless an admin gives them another one.
        role={"create": lambda user, value, **_: value or "USER"},
    )
    .validate(role=[(only_admins_make_admins, "only admins can make admins")])
)

machine_users: MachineUsers = {
    "admin-machine-user": {
        "attributes": {"role": "ADMIN"},
        "attribute_list": [
            "550e8400-e29b-41d4-a716-446655440000",
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        ],
    },
    "readonly-machine-user": {
        "attributes": {"role": "READER"},
        "attribute_list": [
            "550e8400-e29b-41d4-a716-446655440000",
            "9b2f6a1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
        ],
    },
}

auth: AppAuth = define_auth(
    "my-auth",
    user_profile={
        "type": user,
        "username_field": "email",
        "attributes": {"role": True},
        "attribute_list": ["organization_id", "team_id"],
    },
    machine_users=machine_users,
    oauth2_clients={
        "my-oauth2-client": {
            "redirect_uris": ["https://example.com/callback", "http://127.0.0.1:3000/callback"],
            "description": "My OAuth2 client",
            "grant_types": ["authorization_code", "refresh_token"],
            "access_token_lifetime_seconds": 3600,
            "refresh_token_lifetime_seconds": 604800,
            "require_dpop": True,
        },
    },
)

config = define_config(auth=auth, db=[user])
