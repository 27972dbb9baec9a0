"""``define_auth`` and ``idp.provider``: every rule, each with an accepted and a refused case."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

import pytest

from authward import ConfigError, db, define_auth, idp, t
from authward.config import Auth, Invoker
from authward.config.db import DbType
from authward.config.idp import IdProvider

ORG = "550e8400-e29b-41d4-a716-446655440000"
TEAM = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
ADMIN = "machine_users['admin-machine-user']"
CLIENT = "oauth2_clients['my-oauth2-client']"


def user_type() -> DbType:
    return db.type(
        "User",
        {
            "email": db.string().unique(),
            "name": db.string(),
            "role": db.enum(["ADMIN", "READER", "USER"]),
            "is_active": db.bool(),
            "tags": db.string(array=True),
            "flags": db.bool(array=True),
            "scopes": db.enum(["read", "write"], array=True),
            "age": db.int(),
            "score": db.float(),
            "organization_id": db.uuid(),
            "team_id": db.uuid(),
            "other_ids": db.uuid(array=True),
            "birthday": db.date(),
            "wake_up": db.time(),
            "handle": db.string().optional(),
            "nick": db.string(),
            "kind": db.enum(["A", "B"]).unique(),
            "codes": db.string(array=True),
            **db.fields.timestamps(),
        },
    )


USER = user_type()


def profile(**overrides: Any) -> Any:
    spec: dict[str, Any] = {"type": USER, "username_field": "email", "attributes": {"role": True}}
    spec.update(overrides)
    return spec


def refused(**kwargs: Any) -> ConfigError:
    """Call define_auth("my-auth", **kwargs), which must refuse, and return the error."""
    with pytest.raises(ConfigError) as exc:
        define_auth("my-auth", **kwargs)
    return exc.value


def message_at(err: ConfigError, path: str) -> str:
    messages = [i.message for i in err.issues if i.path == path]
    assert len(messages) == 1, err.issues
    return messages[0]


def client(**overrides: Any) -> Any:
    spec: dict[str, Any] = {"redirect_uris": ["https://example.com/callback"]}
    spec.update(overrides)
    return spec


def with_client(**overrides: Any) -> Auth[str]:
    return define_auth("my-auth", oauth2_clients={"my-oauth2-client": client(**overrides)})


def client_refused(**overrides: Any) -> ConfigError:
    return refused(oauth2_clients={"my-oauth2-client": client(**overrides)})


# --- the auth itself ------------------------------------------------------------------------


def test_minimal_auth() -> None:
    auth = define_auth("my-auth")
    assert auth.name == "my-auth"
    assert auth.user_profile is None
    assert dict(auth.attribute_fields) == {}
    assert auth.attribute_list_fields == ()
    assert dict(auth.machine_users) == {}
    assert dict(auth.oauth2_clients) == {}
    assert auth.id_provider is None


@pytest.mark.parametrize("name", ["my-auth", "auth", "a_1", "0auth"])
def test_auth_name_accepted(name: str) -> None:
    assert define_auth(name).name == name


@pytest.mark.parametrize("name", ["My-Auth", "-auth", "my auth", "", "a" * 64, "auth\n", 7])
def test_auth_name_refused(name: Any) -> None:
    with pytest.raises(ConfigError) as exc:
        define_auth(name)
    assert "lower-case letters" in message_at(exc.value, "define_auth.name")


def test_auth_is_immutable() -> None:
    auth = define_auth("my-auth", machine_users={"bot": {}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        auth.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        auth.machine_users["x"] = auth.machine_users["bot"]  # type: ignore[index]


# --- user_profile: type and username_field --------------------------------------------------


def test_user_profile_accepted() -> None:
    auth = define_auth("my-auth", user_profile=profile())
    assert auth.user_profile is not None
    assert auth.user_profile.type is USER
    assert auth.user_profile.username_field == "email"
    assert auth.user_profile.attributes == ("role",)
    assert auth.user_profile.attribute_list == ()
    assert list(auth.attribute_fields) == ["role"]
    assert auth.attribute_fields["role"] is USER.fields["role"]


def test_user_profile_type_must_be_a_db_type() -> None:
    err = refused(user_profile=profile(type="User"))
    assert "db.type" in message_at(err, "user_profile.type")


def test_user_profile_must_be_a_mapping() -> None:
    err = refused(user_profile=[USER, "email"])
    assert "expected a mapping" in message_at(err, "user_profile")


def test_username_field_missing_refused() -> None:
    spec = profile()
    del spec["username_field"]
    err = refused(user_profile=spec)
    assert "required" in message_at(err, "user_profile.username_field")


def test_username_field_must_exist() -> None:
    err = refused(user_profile=profile(username_field="login"))
    assert "User has no field 'login'" in message_at(err, "user_profile.username_field")


def test_username_field_must_be_unique() -> None:
    err = refused(user_profile=profile(username_field="nick"))
    message = message_at(err, "user_profile.username_field")
    assert "User.nick must be unique" in message
    assert ".unique()" in message


def test_unique_enum_username_field_accepted() -> None:
    auth = define_auth("my-auth", user_profile=profile(username_field="kind"))
    assert auth.user_profile is not None
    assert auth.user_profile.username_field == "kind"


def test_username_field_must_be_a_string() -> None:
    user = db.type("Account", {"number": db.int().unique()})
    err = refused(user_profile={"type": user, "username_field": "number"})
    assert "must be a string" in message_at(err, "user_profile.username_field")


def test_username_field_cannot_be_the_implicit_id() -> None:
    err = refused(user_profile=profile(username_field="id"))
    assert "implicit id" in message_at(err, "user_profile.username_field")


def test_user_profile_unknown_key_suggests_the_snake_case_name() -> None:
    spec = {"type": USER, "username_field": "email", "attributeList": ["organization_id"]}
    err = refused(user_profile=spec)
    message = message_at(err, "user_profile.attributeList")
    assert "did you mean 'attribute_list'" in message


# --- user_profile.attributes ----------------------------------------------------------------


@pytest.mark.parametrize("attr", ["name", "role", "is_active", "tags", "flags", "scopes", "handle"])
def test_value_operand_fields_accepted_as_attributes(attr: str) -> None:
    auth = define_auth("my-auth", user_profile=profile(attributes={attr: True}))
    assert list(auth.attribute_fields) == [attr]


def test_several_attributes_keep_their_order() -> None:
    auth = define_auth(
        "my-auth", user_profile=profile(attributes={"tags": True, "role": True, "name": True})
    )
    assert auth.user_profile is not None
    assert auth.user_profile.attributes == ("tags", "role", "name")


def test_id_refused_as_attribute() -> None:
    err = refused(user_profile=profile(attributes={"id": True}))
    assert "id field cannot be an attribute" in message_at(err, "user_profile.attributes.id")


@pytest.mark.parametrize(
    ("attr", "label"),
    [("created_at", "datetime"), ("birthday", "date"), ("wake_up", "time")],
)
def test_temporal_fields_refused_as_attributes(attr: str, label: str) -> None:
    err = refused(user_profile=profile(attributes={attr: True}))
    message = message_at(err, f"user_profile.attributes.{attr}")
    assert f"{attr} ({label})" in message
    assert "datetime, date and time fields cannot be attributes" in message


@pytest.mark.parametrize(
    ("attr", "label"),
    [("age", "int"), ("score", "float"), ("organization_id", "uuid"), ("other_ids", "uuid[]")],
)
def test_non_value_operand_fields_refused_as_attributes(attr: str, label: str) -> None:
    err = refused(user_profile=profile(attributes={attr: True}))
    message = message_at(err, f"user_profile.attributes.{attr}")
    assert f"{attr} ({label})" in message
    assert "only string, boolean, string[] and boolean[]" in message


def test_unknown_attribute_field_refused() -> None:
    err = refused(user_profile=profile(attributes={"nope": True}))
    assert "no field 'nope'" in message_at(err, "user_profile.attributes.nope")


@pytest.mark.parametrize("enabled", [False, 1, "yes", None])
def test_attribute_must_be_enabled_with_true(enabled: object) -> None:
    err = refused(user_profile=profile(attributes={"role": enabled}))
    assert "set to True" in message_at(err, "user_profile.attributes.role")


def test_attributes_must_be_a_mapping() -> None:
    err = refused(user_profile=profile(attributes=["role"]))
    assert "expected {field: True" in message_at(err, "user_profile.attributes")


# --- user_profile.attribute_list ------------------------------------------------------------


def test_attribute_list_keeps_order() -> None:
    auth = define_auth(
        "my-auth", user_profile=profile(attribute_list=["team_id", "organization_id"])
    )
    assert auth.user_profile is not None
    assert auth.user_profile.attribute_list == ("team_id", "organization_id")
    assert auth.attribute_list_fields == ("team_id", "organization_id")


def test_attribute_list_duplicate_refused() -> None:
    err = refused(user_profile=profile(attribute_list=["organization_id", "organization_id"]))
    assert "listed twice" in message_at(err, "user_profile.attribute_list[1]")


@pytest.mark.parametrize(
    ("field_name", "label"), [("other_ids", "uuid[]"), ("email", "string"), ("age", "int")]
)
def test_attribute_list_only_non_array_uuid(field_name: str, label: str) -> None:
    err = refused(user_profile=profile(attribute_list=["organization_id", field_name]))
    message = message_at(err, "user_profile.attribute_list[1]")
    assert f"{field_name} ({label})" in message
    assert "only non-array uuid fields" in message


def test_attribute_list_refuses_id() -> None:
    err = refused(user_profile=profile(attribute_list=["id"]))
    assert "only non-array uuid fields" in message_at(err, "user_profile.attribute_list[0]")


def test_attribute_list_unknown_field_refused() -> None:
    err = refused(user_profile=profile(attribute_list=["nope"]))
    assert "no field 'nope'" in message_at(err, "user_profile.attribute_list[0]")


@pytest.mark.parametrize("value", ["organization_id", 3])
def test_profile_attribute_list_must_be_a_list(value: object) -> None:
    err = refused(user_profile=profile(attribute_list=value))
    assert "list of field names" in message_at(err, "user_profile.attribute_list")


# --- machine_user_attributes ----------------------------------------------------------------


def test_machine_user_attributes_accepted() -> None:
    auth = define_auth(
        "my-auth",
        machine_user_attributes={
            "role": t.string(),
            "is_active": t.bool(),
            "tags": t.string(array=True),
            "flags": t.bool(array=True),
            "level": t.enum(["LOW", "HIGH"]),
        },
        machine_users={
            "admin-machine-user": {
                "attributes": {
                    "role": "ADMIN",
                    "is_active": True,
                    "tags": ["root"],
                    "flags": [True, False],
                    "level": "HIGH",
                }
            }
        },
    )
    assert auth.user_profile is None
    assert list(auth.attribute_fields) == ["role", "is_active", "tags", "flags", "level"]
    assert dict(auth.machine_users["admin-machine-user"].attributes) == {
        "role": "ADMIN",
        "is_active": True,
        "tags": ("root",),
        "flags": (True, False),
        "level": "HIGH",
    }


def test_machine_user_attributes_accept_camel_case_identifiers() -> None:
    auth = define_auth("my-auth", machine_user_attributes={"isActive": t.bool()})
    assert list(auth.attribute_fields) == ["isActive"]


def test_machine_user_attributes_refuse_uuid() -> None:
    err = refused(machine_user_attributes={"org": t.uuid()})
    message = message_at(err, "machine_user_attributes.org")
    assert "uuid" in message
    assert "only string, boolean, string[] and boolean[]" in message


@pytest.mark.parametrize("field", [db.int(), db.datetime(), db.uuid(array=True)])
def test_machine_user_attributes_refuse_other_kinds(field: Any) -> None:
    err = refused(machine_user_attributes={"x": field})
    assert "only string, boolean" in message_at(err, "machine_user_attributes.x")


def test_machine_user_attributes_refuse_a_non_field() -> None:
    err = refused(machine_user_attributes={"role": str})
    assert "t.string()" in message_at(err, "machine_user_attributes.role")


@pytest.mark.parametrize("name", ["has space", "1st", "with-dash", ""])
def test_machine_user_attribute_names_are_identifiers(name: str) -> None:
    err = refused(machine_user_attributes={name: t.string()})
    assert "identifiers" in message_at(err, f"machine_user_attributes.{name}")


def test_machine_user_attributes_refuse_empty_enum() -> None:
    err = refused(machine_user_attributes={"level": t.enum([])})
    assert "one or more distinct values" in message_at(err, "machine_user_attributes.level")


def test_machine_user_attributes_must_be_a_mapping() -> None:
    err = refused(machine_user_attributes=[t.string()])
    assert "expected {name: t.string()" in message_at(err, "machine_user_attributes")


def test_user_profile_and_machine_user_attributes_together_refused() -> None:
    err = refused(user_profile=profile(), machine_user_attributes={"role": t.string()})
    assert "together with user_profile" in message_at(err, "machine_user_attributes")


# --- machine_users --------------------------------------------------------------------------


def seed_auth() -> Auth[str]:
    return define_auth(
        "my-auth",
        user_profile=profile(attribute_list=["organization_id", "team_id"]),
        machine_users={
            "admin-machine-user": {"attributes": {"role": "ADMIN"}, "attribute_list": [ORG, TEAM]},
            "readonly-machine-user": {
                "attributes": {"role": "READER"},
                "attribute_list": [ORG, UUID(TEAM)],
            },
        },
    )


def test_machine_users_accepted() -> None:
    auth = seed_auth()
    assert list(auth.machine_users) == ["admin-machine-user", "readonly-machine-user"]
    admin = auth.machine_users["admin-machine-user"]
    assert admin.name == "admin-machine-user"
    assert dict(admin.attributes) == {"role": "ADMIN"}
    assert admin.attribute_list == (UUID(ORG), UUID(TEAM))
    assert auth.machine_users["readonly-machine-user"].attribute_list == (UUID(ORG), UUID(TEAM))


def test_machine_user_attributes_are_read_only() -> None:
    admin = seed_auth().machine_users["admin-machine-user"]
    with pytest.raises(TypeError):
        admin.attributes["role"] = "USER"  # type: ignore[index]


def test_machine_user_without_attributes_when_none_are_enabled() -> None:
    auth = define_auth("my-auth", machine_users={"bot": {}})
    assert dict(auth.machine_users["bot"].attributes) == {}
    assert auth.machine_users["bot"].attribute_list == ()


def test_every_enabled_attribute_is_required() -> None:
    err = refused(
        user_profile=profile(attributes={"role": True, "is_active": True}),
        machine_users={"admin-machine-user": {"attributes": {"role": "ADMIN"}}},
    )
    assert [i.path for i in err.issues] == [f"{ADMIN}.attributes.is_active"]
    assert "required by user_profile.attributes" in err.issues[0].message


def test_missing_attributes_key_reports_each_required_attribute() -> None:
    err = refused(user_profile=profile(), machine_users={"admin-machine-user": {}})
    assert "required by user_profile.attributes" in message_at(err, f"{ADMIN}.attributes.role")


def test_required_attribute_names_machine_user_attributes_as_source() -> None:
    err = refused(
        machine_user_attributes={"role": t.string()},
        machine_users={"admin-machine-user": {"attributes": {}}},
    )
    assert "required by machine_user_attributes" in message_at(err, f"{ADMIN}.attributes.role")


@pytest.mark.parametrize(
    ("field", "value", "got"),
    [
        (t.string(), 1, "got 1"),
        (t.string(), True, "got True"),
        (t.string(), None, "got NoneType"),
        (t.string(), ["a"], "got list"),
        (t.bool(), "true", "got 'true'"),
        (t.bool(), "1", "got '1'"),
        (t.bool(), 1, "got 1"),
        (t.bool(), 0, "got 0"),
    ],
)
def test_scalar_attribute_wrong_type_refused(field: Any, value: object, got: str) -> None:
    err = refused(
        machine_user_attributes={"x": field},
        machine_users={"admin-machine-user": {"attributes": {"x": value}}},
    )
    message = message_at(err, f"{ADMIN}.attributes.x")
    assert f"expected {field.type_label}" in message
    assert got in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (t.string(array=True), "root"),
        (t.string(array=True), ["root", 1]),
        (t.bool(array=True), [True, "false"]),
        (t.bool(array=True), True),
    ],
)
def test_array_attribute_wrong_type_refused(field: Any, value: object) -> None:
    err = refused(
        machine_user_attributes={"x": field},
        machine_users={"admin-machine-user": {"attributes": {"x": value}}},
    )
    assert f"expected {field.type_label}" in message_at(err, f"{ADMIN}.attributes.x")


@pytest.mark.parametrize(
    ("field", "value", "frozen"),
    [
        (t.string(array=True), [], ()),
        (t.string(array=True), ("a", "b"), ("a", "b")),
        (t.bool(array=True), [False], (False,)),
        (t.bool(), False, False),
        (t.string(), "", ""),
    ],
)
def test_attribute_values_of_the_right_type_accepted(
    field: Any, value: Any, frozen: object
) -> None:
    auth = define_auth(
        "my-auth",
        machine_user_attributes={"x": field},
        machine_users={"admin-machine-user": {"attributes": {"x": value}}},
    )
    assert auth.machine_users["admin-machine-user"].attributes["x"] == frozen


def test_enum_attribute_value_must_be_one_of_the_values() -> None:
    err = refused(
        user_profile=profile(),
        machine_users={"admin-machine-user": {"attributes": {"role": "ROOT"}}},
    )
    message = message_at(err, f"{ADMIN}.attributes.role")
    assert "one of 'ADMIN', 'READER', 'USER'" in message
    assert "got 'ROOT'" in message


def test_enum_attribute_value_is_case_sensitive() -> None:
    err = refused(
        user_profile=profile(),
        machine_users={"admin-machine-user": {"attributes": {"role": "admin"}}},
    )
    assert "one of" in message_at(err, f"{ADMIN}.attributes.role")


def test_enum_array_attribute_items_checked() -> None:
    spec = profile(attributes={"scopes": True})
    ok = define_auth(
        "my-auth",
        user_profile=spec,
        machine_users={"admin-machine-user": {"attributes": {"scopes": ["read", "write"]}}},
    )
    assert ok.machine_users["admin-machine-user"].attributes["scopes"] == ("read", "write")
    err = refused(
        user_profile=spec,
        machine_users={"admin-machine-user": {"attributes": {"scopes": ["read", "delete"]}}},
    )
    assert "got item 'delete'" in message_at(err, f"{ADMIN}.attributes.scopes")


def test_unknown_attribute_refused() -> None:
    err = refused(
        user_profile=profile(),
        machine_users={"admin-machine-user": {"attributes": {"role": "ADMIN", "team": "x"}}},
    )
    assert "not an attribute enabled in user_profile.attributes" in message_at(
        err, f"{ADMIN}.attributes.team"
    )


def test_attribute_without_any_declared_refused() -> None:
    err = refused(machine_users={"admin-machine-user": {"attributes": {"role": "ADMIN"}}})
    assert "not an attribute enabled" in message_at(err, f"{ADMIN}.attributes.role")


def test_machine_user_spec_attributes_must_be_a_mapping() -> None:
    err = refused(machine_users={"admin-machine-user": {"attributes": ["role"]}})
    assert "expected a mapping" in message_at(err, f"{ADMIN}.attributes")


def test_machine_user_unknown_key_suggests_snake_case() -> None:
    err = refused(
        user_profile=profile(attribute_list=["organization_id"]),
        machine_users={
            "admin-machine-user": {"attributes": {"role": "ADMIN"}, "attributeList": [ORG]}
        },
    )
    assert "did you mean 'attribute_list'" in message_at(err, f"{ADMIN}.attributeList")


@pytest.mark.parametrize("name", ["Admin", "admin user", "-admin", "admin\n", ""])
def test_machine_user_name_refused(name: str) -> None:
    err = refused(machine_users={name: {}})
    assert "lower-case letters" in message_at(err, f"machine_users[{name!r}]")


def test_machine_user_spec_must_be_a_mapping() -> None:
    err = refused(machine_users={"admin-machine-user": "ADMIN"})
    assert "expected {attributes" in message_at(err, ADMIN)


def test_machine_users_must_be_a_mapping() -> None:
    err = refused(machine_users=["admin-machine-user"])
    assert "expected {name" in message_at(err, "machine_users")


# --- machine_users[...].attribute_list ------------------------------------------------------


def list_profile() -> Any:
    return profile(attribute_list=["organization_id", "team_id"])


@pytest.mark.parametrize("given", [[ORG], [ORG, TEAM, ORG], [], None])
def test_attribute_list_wrong_count_refused(given: Any) -> None:
    mu: dict[str, Any] = {"attributes": {"role": "ADMIN"}}
    if given is not None:
        mu["attribute_list"] = given
    err = refused(user_profile=list_profile(), machine_users={"admin-machine-user": mu})
    message = message_at(err, f"{ADMIN}.attribute_list")
    assert "expected one UUID per user_profile.attribute_list field, in order" in message
    assert "2 (organization_id, team_id)" in message
    assert f"got {len(given or [])}" in message


def test_attribute_list_invalid_uuid_names_its_index() -> None:
    err = refused(
        user_profile=list_profile(),
        machine_users={
            "admin-machine-user": {"attributes": {"role": "ADMIN"}, "attribute_list": [ORG, "x"]}
        },
    )
    assert [i.path for i in err.issues] == [f"{ADMIN}.attribute_list[1]"]
    assert "'x' is not a valid UUID (team_id)" in err.issues[0].message


def test_attribute_list_every_invalid_uuid_reported() -> None:
    err = refused(
        user_profile=list_profile(),
        machine_users={
            "admin-machine-user": {"attributes": {"role": "ADMIN"}, "attribute_list": [1, "nope"]}
        },
    )
    assert [i.path for i in err.issues] == [
        f"{ADMIN}.attribute_list[0]",
        f"{ADMIN}.attribute_list[1]",
    ]


def test_machine_user_attribute_list_must_be_a_list() -> None:
    err = refused(
        user_profile=list_profile(),
        machine_users={
            "admin-machine-user": {"attributes": {"role": "ADMIN"}, "attribute_list": ORG}
        },
    )
    assert "expected a list of UUIDs" in message_at(err, f"{ADMIN}.attribute_list")


def test_attribute_list_refused_when_the_profile_lists_none() -> None:
    err = refused(
        user_profile=profile(),
        machine_users={
            "admin-machine-user": {"attributes": {"role": "ADMIN"}, "attribute_list": [ORG]}
        },
    )
    assert "none; got 1" in message_at(err, f"{ADMIN}.attribute_list")


def test_attribute_list_order_is_kept() -> None:
    auth = define_auth(
        "my-auth",
        user_profile=list_profile(),
        machine_users={
            "admin-machine-user": {"attributes": {"role": "ADMIN"}, "attribute_list": [TEAM, ORG]}
        },
    )
    assert auth.machine_users["admin-machine-user"].attribute_list == (UUID(TEAM), UUID(ORG))


# --- oauth2_clients: grant types ------------------------------------------------------------


def test_oauth2_client_defaults() -> None:
    c = with_client().oauth2_clients["my-oauth2-client"]
    assert c.name == "my-oauth2-client"
    assert c.redirect_uris == ("https://example.com/callback",)
    assert c.grant_types == ("authorization_code", "refresh_token")
    assert c.description == ""
    assert c.require_dpop is False
    assert c.access_token_lifetime_seconds is None
    assert c.refresh_token_lifetime_seconds is None


def test_oauth2_client_all_options() -> None:
    c = with_client(
        description="My OAuth2 client",
        grant_types=["refresh_token", "authorization_code"],
        access_token_lifetime_seconds=3600,
        refresh_token_lifetime_seconds=604800,
        require_dpop=True,
    ).oauth2_clients["my-oauth2-client"]
    assert c.description == "My OAuth2 client"
    assert c.grant_types == ("authorization_code", "refresh_token")
    assert c.access_token_lifetime_seconds == 3600
    assert c.refresh_token_lifetime_seconds == 604800
    assert c.require_dpop is True


def test_authorization_code_alone_accepted() -> None:
    c = with_client(grant_types=["authorization_code"]).oauth2_clients["my-oauth2-client"]
    assert c.grant_types == ("authorization_code",)


def test_client_credentials_refused_with_a_hint_about_machine_users() -> None:
    err = client_refused(grant_types=["authorization_code", "client_credentials"])
    message = message_at(err, f"{CLIENT}.grant_types")
    assert "'client_credentials' is not supported" in message
    assert "machine users" in message


@pytest.mark.parametrize("grant", ["implicit", "password", "urn:ietf:params:oauth:grant-type:jwt"])
def test_other_grant_types_refused(grant: str) -> None:
    err = client_refused(grant_types=["authorization_code", grant])
    message = message_at(err, f"{CLIENT}.grant_types")
    assert "is not supported (allowed: authorization_code, refresh_token)" in message
    assert "machine users" not in message


def test_refresh_token_without_authorization_code_refused() -> None:
    err = client_refused(grant_types=["refresh_token"])
    assert "refresh_token requires authorization_code" in message_at(err, f"{CLIENT}.grant_types")


@pytest.mark.parametrize("grants", [[], "authorization_code", None])
def test_grant_types_must_be_a_non_empty_list(grants: object) -> None:
    err = client_refused(grant_types=grants)
    assert "non-empty list" in message_at(err, f"{CLIENT}.grant_types")


# --- oauth2_clients: redirect URIs ----------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://example.com/callback",
        "https://example.com:8443/cb?x=1",
        "http://127.0.0.1:3000/callback",
        "http://localhost/callback",
        "http://localhost:8080/cb",
        "http://[::1]:3000/callback",
    ],
)
def test_redirect_uri_accepted(uri: str) -> None:
    assert with_client(redirect_uris=[uri]).oauth2_clients["my-oauth2-client"].redirect_uris == (
        uri,
    )


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("http://example.com/callback", "must use https (plain http is allowed only for loopback"),
        ("http://127.0.0.2/callback", "must use https"),
        ("http://localhost.example.com/cb", "must use https"),
        ("ftp://example.com/callback", "must use https"),
        ("/callback", "is not absolute"),
        ("example.com/callback", "is not absolute"),
        ("https:///callback", "is not absolute"),
        ("https://example.com/callback#top", "must not contain a fragment"),
        ("https://example.com/callback#", "must not contain a fragment"),
        ("https://example.com:port/cb", "not a valid URL"),
        ("", "non-empty string"),
        (42, "non-empty string"),
        (["https://example.com/cb"], "non-empty string"),
    ],
)
def test_redirect_uri_refused(uri: object, fragment: str) -> None:
    err = client_refused(redirect_uris=["https://ok.example.com/cb", uri])
    assert fragment in message_at(err, f"{CLIENT}.redirect_uris[1]")


def test_redirect_uris_must_not_repeat() -> None:
    uri = "https://example.com/callback"
    err = client_refused(redirect_uris=[uri, uri])
    assert "same URI twice" in message_at(err, f"{CLIENT}.redirect_uris")


@pytest.mark.parametrize("uris", [[], "https://example.com/callback", None])
def test_redirect_uris_must_be_a_non_empty_list(uris: object) -> None:
    err = client_refused(redirect_uris=uris)
    assert "non-empty list of absolute URLs" in message_at(err, f"{CLIENT}.redirect_uris")


def test_redirect_uris_required() -> None:
    err = refused(oauth2_clients={"my-oauth2-client": {"grant_types": ["authorization_code"]}})
    assert "non-empty list" in message_at(err, f"{CLIENT}.redirect_uris")


# --- oauth2_clients: lifetimes --------------------------------------------------------------


@pytest.mark.parametrize("seconds", [60, 3600, 86400])
def test_access_token_lifetime_in_bounds(seconds: int) -> None:
    c = with_client(access_token_lifetime_seconds=seconds).oauth2_clients["my-oauth2-client"]
    assert c.access_token_lifetime_seconds == seconds


@pytest.mark.parametrize("seconds", [59, 86401, 0, -1])
def test_access_token_lifetime_out_of_bounds(seconds: int) -> None:
    err = client_refused(access_token_lifetime_seconds=seconds)
    message = message_at(err, f"{CLIENT}.access_token_lifetime_seconds")
    assert f"must be between 60 and 86400 seconds, got {seconds}" in message


@pytest.mark.parametrize("seconds", [60, 86400, 604800])
def test_refresh_token_lifetime_in_bounds(seconds: int) -> None:
    c = with_client(refresh_token_lifetime_seconds=seconds).oauth2_clients["my-oauth2-client"]
    assert c.refresh_token_lifetime_seconds == seconds


@pytest.mark.parametrize("seconds", [59, 604801])
def test_refresh_token_lifetime_out_of_bounds(seconds: int) -> None:
    err = client_refused(refresh_token_lifetime_seconds=seconds)
    message = message_at(err, f"{CLIENT}.refresh_token_lifetime_seconds")
    assert f"must be between 60 and 604800 seconds, got {seconds}" in message


@pytest.mark.parametrize("key", ["access_token_lifetime_seconds", "refresh_token_lifetime_seconds"])
@pytest.mark.parametrize("value", [True, False, 3600.0, "3600"])
def test_lifetime_must_be_a_whole_number(key: str, value: object) -> None:
    err = client_refused(**{key: value})
    assert "whole number of seconds" in message_at(err, f"{CLIENT}.{key}")


def test_unset_lifetimes_mean_platform_default() -> None:
    c = with_client(
        access_token_lifetime_seconds=None, refresh_token_lifetime_seconds=None
    ).oauth2_clients["my-oauth2-client"]
    assert c.access_token_lifetime_seconds is None
    assert c.refresh_token_lifetime_seconds is None


# --- oauth2_clients: other keys -------------------------------------------------------------


def test_camel_case_key_refused_with_suggestion() -> None:
    err = refused(oauth2_clients={"my-oauth2-client": {"redirectURIs": ["https://a.example/cb"]}})
    message = message_at(err, f"{CLIENT}.redirectURIs")
    assert "unknown key" in message
    assert "did you mean 'redirect_uris'" in message
    # redirect_uris itself is then missing
    assert "non-empty list" in message_at(err, f"{CLIENT}.redirect_uris")


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("grantTypes", "grant_types"),
        ("requireDpop", "require_dpop"),
        ("accessTokenLifetimeSeconds", "access_token_lifetime_seconds"),
        ("refreshTokenLifetimeSeconds", "refresh_token_lifetime_seconds"),
        ("descripton", "description"),
    ],
)
def test_other_unknown_keys_get_suggestions(key: str, suggestion: str) -> None:
    err = client_refused(**{key: None})
    assert f"did you mean {suggestion!r}" in message_at(err, f"{CLIENT}.{key}")


def test_unknown_key_without_a_close_match_lists_allowed_keys() -> None:
    err = client_refused(zzz=1)
    message = message_at(err, f"{CLIENT}.zzz")
    assert "did you mean" not in message
    assert "allowed: redirect_uris, description, grant_types" in message


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_require_dpop_must_be_a_bool(value: object) -> None:
    err = client_refused(require_dpop=value)
    assert "True or False" in message_at(err, f"{CLIENT}.require_dpop")


def test_description_must_be_a_string() -> None:
    err = client_refused(description=42)
    assert "expected a string" in message_at(err, f"{CLIENT}.description")


@pytest.mark.parametrize("name", ["My-Client", "my client", "", "client\n"])
def test_oauth2_client_name_refused(name: str) -> None:
    err = refused(oauth2_clients={name: client()})
    assert "lower-case letters" in message_at(err, f"oauth2_clients[{name!r}]")


def test_oauth2_client_spec_must_be_a_mapping() -> None:
    err = refused(oauth2_clients={"my-oauth2-client": ["https://example.com/cb"]})
    assert "expected {redirect_uris" in message_at(err, CLIENT)


def test_oauth2_clients_must_be_a_mapping() -> None:
    err = refused(oauth2_clients=[client()])
    assert "expected {name" in message_at(err, "oauth2_clients")


# --- several mistakes at once ---------------------------------------------------------------


def test_several_mistakes_are_all_reported() -> None:
    err = refused(
        user_profile=profile(username_field="nick", attributes={"role": True, "age": True}),
        machine_users={"admin-machine-user": {"attributes": {"role": "ROOT"}}},
        oauth2_clients={
            "my-oauth2-client": {
                "redirect_uris": ["http://example.com/cb"],
                "grant_types": ["client_credentials"],
                "access_token_lifetime_seconds": 59,
            }
        },
    )
    assert len(err.issues) > 1
    assert [i.path for i in err.issues] == [
        "user_profile.username_field",
        "user_profile.attributes.age",
        f"{ADMIN}.attributes.role",
        f"{CLIENT}.grant_types",
        f"{CLIENT}.redirect_uris[0]",
        f"{CLIENT}.access_token_lifetime_seconds",
    ]
    text = str(err)
    assert "user_profile.username_field: User.nick must be unique" in text
    assert text.count("; ") >= len(err.issues) - 1


# --- invoker --------------------------------------------------------------------------------


def test_invoker_for_a_known_machine_user() -> None:
    invoker = seed_auth().invoker("admin-machine-user")
    assert isinstance(invoker, Invoker)
    assert invoker == Invoker(auth_name="my-auth", machine_user="admin-machine-user")
    with pytest.raises(dataclasses.FrozenInstanceError):
        invoker.machine_user = "other"  # type: ignore[misc]


def test_invoker_for_an_unknown_machine_user() -> None:
    with pytest.raises(ConfigError) as exc:
        seed_auth().invoker("root")
    message = str(exc.value)
    assert "no machine user 'root' in auth 'my-auth'" in message
    assert "admin-machine-user, readonly-machine-user" in message


def test_invoker_when_no_machine_users_are_defined() -> None:
    with pytest.raises(ConfigError, match="none are defined"):
        define_auth("my-auth").invoker("admin-machine-user")


# --- id_provider ----------------------------------------------------------------------------


def provider(**kwargs: Any) -> IdProvider:
    defaults: dict[str, Any] = {"issuer": "https://idp.example.com", "client_id": "abc"}
    defaults.update(kwargs)
    return idp.provider("my-provider", "my-client", **defaults)


def test_id_provider_attached_to_auth() -> None:
    p = provider()
    assert define_auth("my-auth", id_provider=p).id_provider is p


def test_id_provider_must_come_from_idp_provider() -> None:
    err = refused(id_provider={"issuer": "https://idp.example.com"})
    assert "idp.provider(name, client)" in message_at(err, "id_provider")


def test_idp_from_arguments() -> None:
    p = provider(issuer="https://idp.example.com/", client_secret="s3cr3t")
    assert (p.name, p.client, p.issuer, p.client_id) == (
        "my-provider",
        "my-client",
        "https://idp.example.com",
        "abc",
    )
    assert p.client_secret is not None
    assert p.client_secret.get_secret_value() == "s3cr3t"


def test_idp_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHWARD_IDP_MY_PROVIDER_ISSUER", "https://login.example.com")
    monkeypatch.setenv("AUTHWARD_IDP_MY_PROVIDER_CLIENT_ID", "env-id")
    monkeypatch.setenv("AUTHWARD_IDP_MY_PROVIDER_CLIENT_SECRET", "env-secret")
    p = idp.provider("my-provider", "my-client")
    assert p.issuer == "https://login.example.com"
    assert p.client_id == "env-id"
    assert p.client_secret is not None
    assert p.client_secret.get_secret_value() == "env-secret"


def test_idp_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHWARD_IDP_MY_PROVIDER_ISSUER", "https://env.example.com")
    monkeypatch.setenv("AUTHWARD_IDP_MY_PROVIDER_CLIENT_ID", "env-id")
    p = idp.provider("my-provider", "my-client", issuer="https://arg.example.com", client_id="a")
    assert (p.issuer, p.client_id) == ("https://arg.example.com", "a")


def test_idp_secret_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTHWARD_IDP_MY_PROVIDER_CLIENT_SECRET", raising=False)
    assert provider().client_secret is None


def test_idp_missing_issuer_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTHWARD_IDP_MY_PROVIDER_ISSUER", raising=False)
    with pytest.raises(ConfigError) as exc:
        idp.provider("my-provider", "my-client", client_id="abc")
    message = message_at(exc.value, "id_provider['my-provider'].issuer")
    assert "AUTHWARD_IDP_MY_PROVIDER_ISSUER" in message


def test_idp_missing_client_id_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTHWARD_IDP_MY_PROVIDER_CLIENT_ID", raising=False)
    with pytest.raises(ConfigError) as exc:
        idp.provider("my-provider", "my-client", issuer="https://idp.example.com")
    message = message_at(exc.value, "id_provider['my-provider'].client_id")
    assert "AUTHWARD_IDP_MY_PROVIDER_CLIENT_ID" in message


def test_idp_env_var_name_uses_the_provider_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHWARD_IDP_CORP_SSO_2_ISSUER", "https://sso.example.com")
    monkeypatch.setenv("AUTHWARD_IDP_CORP_SSO_2_CLIENT_ID", "id")
    assert idp.provider("corp-sso_2", "web").issuer == "https://sso.example.com"


@pytest.mark.parametrize(
    ("issuer", "fragment"),
    [
        ("http://idp.example.com", "must use https"),
        ("idp.example.com", "is not absolute"),
        ("https://idp.example.com/#x", "fragment"),
        ("https://idp.example.com/?tenant=1", "no query"),
    ],
)
def test_idp_bad_issuer_refused(issuer: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as exc:
        provider(issuer=issuer)
    assert fragment in message_at(exc.value, "id_provider['my-provider'].issuer")


def test_idp_loopback_http_issuer_accepted_for_development() -> None:
    assert provider(issuer="http://localhost:8080").issuer == "http://localhost:8080"


@pytest.mark.parametrize(("name", "client_name"), [("My Provider", "c"), ("p", "Client!")])
def test_idp_names_refused(name: str, client_name: str) -> None:
    with pytest.raises(ConfigError) as exc:
        idp.provider(name, client_name, issuer="https://idp.example.com", client_id="abc")
    label = "name" if name != "p" else "client"
    assert "lower-case letters" in message_at(exc.value, f"id_provider[{name!r}].{label}")


def test_idp_secret_not_in_repr_or_str() -> None:
    p = provider(client_secret="s3cr3t-value")
    assert "s3cr3t-value" not in repr(p)
    assert "s3cr3t-value" not in str(p)
    assert "s3cr3t-value" not in repr(p.client_secret)
    assert "my-provider" in repr(p)


def test_idp_secret_from_env_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHWARD_IDP_MY_PROVIDER_CLIENT_SECRET", "env-s3cr3t")
    p = provider()
    assert "env-s3cr3t" not in repr(p)
    assert "env-s3cr3t" not in repr(define_auth("my-auth", id_provider=p))
