"""The app `bench/oauth_load.py` serves: a user profile, one machine user, one OAuth client."""

from __future__ import annotations

from authward import db, define_auth, define_config

user = db.type(
    "User",
    {
        "email": db.string().unique(),
        "name": db.string(),
        "role": db.enum(["ADMIN", "USER"]),
        **db.fields.timestamps(),
    },
)

auth = define_auth(
    "bench-auth",
    user_profile={"type": user, "username_field": "email", "attributes": {"role": True}},
    machine_users={"bench-machine": {"attributes": {"role": "ADMIN"}}},
    oauth2_clients={
        "bench-client": {
            "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "access_token_lifetime_seconds": 3600,
        },
    },
)

config = define_config(auth=auth, db=[user])
