"""``db``: declaring database types, their fields, hooks and validators."""

from __future__ import annotations

import dataclasses

import pytest

from authward import ConfigError, db, t
from authward.config.db import DbType
from authward.config.fields import Field


def issue_paths(err: ConfigError) -> list[str]:
    return [i.path for i in err.issues]


def only_issue(err: ConfigError, path: str) -> str:
    """The message of the one issue at ``path`` (and fail if there is not exactly one)."""
    messages = [i.message for i in err.issues if i.path == path]
    assert len(messages) == 1, err.issues
    return messages[0]


def user_type() -> DbType:
    return db.type(
        "User",
        {
            "email": db.string().unique(),
            "role": db.enum(["ADMIN", "USER"]),
            "organization_id": db.uuid(),
            **db.fields.timestamps(),
        },
    )


# --- type names -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["User", "TeamMember", "A", "Order2", "X" * 63])
def test_type_name_accepted(name: str) -> None:
    assert db.type(name, {"title": db.string()}).name == name


@pytest.mark.parametrize(
    "name", ["user", "team_member", "Team-Member", "Team Member", "2Fast", "", "X" * 64, "User\n"]
)
def test_type_name_refused(name: str) -> None:
    with pytest.raises(ConfigError) as exc:
        db.type(name, {"title": db.string()})
    assert "upper-case letter" in only_issue(exc.value, f"db.type({name!r})")


def test_type_name_must_be_a_string() -> None:
    with pytest.raises(ConfigError) as exc:
        db.type(42, {"title": db.string()})  # type: ignore[arg-type]
    assert issue_paths(exc.value) == ["db.type(42)"]


def test_table_name_is_snake_case_of_the_type_name() -> None:
    assert db.type("TeamMember", {}).table_name == "team_member"
    assert db.type("User", {}).table_name == "user"


@pytest.mark.parametrize("name", ["AwToken", "AwClient", "AlembicVersion", "Alembic"])
def test_reserved_names_refused(name: str) -> None:
    with pytest.raises(ConfigError) as exc:
        db.type(name, {"title": db.string()})
    assert "reserved" in only_issue(exc.value, f"db.type({name!r})")


@pytest.mark.parametrize("name", ["Aw", "Away", "Awkward", "Alembi"])
def test_names_close_to_reserved_prefixes_accepted(name: str) -> None:
    assert db.type(name, {"title": db.string()}).name == name


# --- the implicit id ------------------------------------------------------------------------


def test_every_type_has_an_implicit_uuid_id_first() -> None:
    user = user_type()
    assert next(iter(user.fields)) == "id"
    assert user.fields["id"] == Field("uuid")
    assert not user.fields["id"].array


def test_declaring_id_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        db.type("User", {"id": db.uuid(), "email": db.string()})
    assert "'id' is implicit" in only_issue(exc.value, "User.id")


def test_fields_mapping_is_read_only() -> None:
    user = user_type()
    with pytest.raises(TypeError):
        user.fields["extra"] = db.string()  # type: ignore[index]


# --- field names ----------------------------------------------------------------------------


@pytest.mark.parametrize("field_name", ["email", "created_at", "a", "team_2", "x" * 63, "a__b"])
def test_snake_case_field_names_accepted(field_name: str) -> None:
    assert field_name in db.type("Thing", {field_name: db.string()}).fields


@pytest.mark.parametrize(
    "field_name", ["createdAt", "Email", "_private", "2nd", "first-name", "x" * 64, "", "email\n"]
)
def test_non_snake_case_field_names_refused(field_name: str) -> None:
    with pytest.raises(ConfigError) as exc:
        db.type("Thing", {field_name: db.string()})
    assert "snake_case" in only_issue(exc.value, f"Thing.{field_name}")


def test_a_field_value_must_be_a_field() -> None:
    with pytest.raises(ConfigError) as exc:
        db.type("Thing", {"title": "string"})  # type: ignore[dict-item]
    assert "db.string()" in only_issue(exc.value, "Thing.title")


# --- field kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("builder", "kind"),
    [
        (db.string, "string"),
        (db.bool, "bool"),
        (db.int, "int"),
        (db.float, "float"),
        (db.uuid, "uuid"),
        (db.datetime, "datetime"),
        (db.date, "date"),
        (db.time, "time"),
    ],
)
def test_builders_make_fields_of_their_kind(builder, kind: str) -> None:  # type: ignore[no-untyped-def]
    scalar, array = builder(), builder(array=True)
    assert (scalar.kind, scalar.array) == (kind, False)
    assert (array.kind, array.array) == (kind, True)
    assert db.type("Thing", {"a": scalar, "b": array}).fields["b"] is array


def test_type_label_reads_like_the_seed() -> None:
    assert db.bool().type_label == "boolean"
    assert db.bool(array=True).type_label == "boolean[]"
    assert db.string(array=True).type_label == "string[]"
    assert db.enum(["A"]).type_label == "enum"


# --- enums ----------------------------------------------------------------------------------


def test_enum_with_distinct_values_accepted() -> None:
    thing = db.type(
        "Thing", {"role": db.enum(["ADMIN", "USER"]), "tags": db.enum(["A"], array=True)}
    )
    assert thing.fields["role"].values == ("ADMIN", "USER")
    assert thing.fields["tags"].array


def test_enum_values_keep_their_order() -> None:
    assert db.enum(["Z", "A", "M"]).values == ("Z", "A", "M")


def test_enum_with_duplicate_values_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        db.type("Thing", {"role": db.enum(["ADMIN", "ADMIN"])})
    assert "distinct values" in only_issue(exc.value, "Thing.role")


def test_enum_without_values_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        db.type("Thing", {"role": db.enum([])})
    assert "one or more distinct values" in only_issue(exc.value, "Thing.role")


@pytest.mark.parametrize("values", [[1, 2], ["ADMIN", ""], ["ADMIN", None]])
def test_enum_values_must_be_non_empty_strings(values: list[object]) -> None:
    with pytest.raises(ConfigError) as exc:
        db.type("Thing", {"role": db.enum(values)})  # type: ignore[arg-type]
    assert "non-empty strings" in only_issue(exc.value, "Thing.role")


@pytest.mark.parametrize("builder", [db.enum, t.enum])
def test_enum_given_one_string_refused_instead_of_splitting_it(builder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as exc:
        builder("ADMIN")
    (issue,) = exc.value.issues
    assert issue.path in ("db.enum", "t.enum")
    assert "expected a list of values" in issue.message


# --- unique / array -------------------------------------------------------------------------


def test_unique_scalar_field_accepted() -> None:
    assert db.type("Thing", {"code": db.string().unique()}).fields["code"].is_unique


def test_array_field_cannot_be_unique() -> None:
    with pytest.raises(ConfigError) as exc:
        db.type("Thing", {"tags": db.string(array=True).unique()})
    assert "array field cannot be unique" in only_issue(exc.value, "Thing.tags")


def test_non_unique_array_field_accepted() -> None:
    assert db.type("Thing", {"tags": db.string(array=True)}).fields["tags"].array


# --- builders return new values -------------------------------------------------------------


def test_unique_returns_a_new_field() -> None:
    base = db.string()
    unique = base.unique()
    assert unique is not base
    assert unique.is_unique
    assert not base.is_unique


def test_optional_returns_a_new_field() -> None:
    base = db.string()
    optional = base.optional()
    assert optional is not base
    assert optional.is_optional
    assert not base.is_optional


def test_describe_returns_a_new_field() -> None:
    base = db.string()
    described = base.describe("the e-mail address")
    assert described is not base
    assert described.description == "the e-mail address"
    assert base.description == ""


def test_builders_chain_and_keep_earlier_settings() -> None:
    f = db.enum(["A", "B"]).unique().optional().describe("x")
    assert (f.kind, f.values, f.is_unique, f.is_optional, f.description) == (
        "enum",
        ("A", "B"),
        True,
        True,
        "x",
    )


def test_fields_are_immutable_so_sharing_is_safe() -> None:
    shared = db.string()
    with pytest.raises(dataclasses.FrozenInstanceError):
        shared.is_unique = True  # type: ignore[misc]
    a = db.type("Alpha", {"name": shared.unique()})
    b = db.type("Beta", {"name": shared})
    assert a.fields["name"].is_unique
    assert not b.fields["name"].is_unique


# --- timestamps -----------------------------------------------------------------------------


def test_timestamps_gives_created_at_and_updated_at() -> None:
    stamps = db.fields.timestamps()
    assert list(stamps) == ["created_at", "updated_at"]
    assert stamps["created_at"].kind == "datetime"
    assert stamps["created_at"].auto == "create"
    assert not stamps["created_at"].is_optional
    assert stamps["updated_at"].kind == "datetime"
    assert stamps["updated_at"].auto == "update"
    assert stamps["updated_at"].is_optional


def test_timestamps_spread_into_a_type() -> None:
    assert list(user_type().fields) == [
        "id",
        "email",
        "role",
        "organization_id",
        "created_at",
        "updated_at",
    ]


def test_timestamps_returns_fresh_dicts() -> None:
    first = db.fields.timestamps()
    first.pop("created_at")
    assert "created_at" in db.fields.timestamps()


def test_fields_other_than_timestamps_are_not_auto() -> None:
    assert all(f.auto is None for name, f in user_type().fields.items() if not name.endswith("_at"))


# --- several mistakes at once ---------------------------------------------------------------


def test_every_mistake_in_a_type_is_reported() -> None:
    with pytest.raises(ConfigError) as exc:
        db.type(
            "user",
            {
                "id": db.uuid(),
                "firstName": db.string(),
                "tags": db.string(array=True).unique(),
                "role": db.enum([]),
            },
        )
    assert len(exc.value.issues) > 1
    assert issue_paths(exc.value) == [
        "db.type('user')",
        "user.id",
        "user.firstName",
        "user.tags",
        "user.role",
    ]
    assert exc.value.code == "invalid_config"
    assert "user.firstName: field names are snake_case" in str(exc.value)


# --- hooks ----------------------------------------------------------------------------------


def test_hooks_registered_per_field_and_chain() -> None:
    def on_create(**_: object) -> str:
        return "USER"

    def on_update(**_: object) -> str:
        return "USER"

    user = user_type()
    returned = user.hooks(role={"create": on_create, "update": on_update})
    assert returned is user
    assert user.field_hooks == {"role": {"create": on_create, "update": on_update}}


def test_hooks_on_unknown_field_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        user_type().hooks(nope={"create": lambda **_: None})
    assert "no field 'nope'" in only_issue(exc.value, "User.hooks.nope")


def test_hooks_on_implicit_id_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        user_type().hooks(id={"create": lambda **_: None})
    assert "no field 'id'" in only_issue(exc.value, "User.hooks.id")


def test_hooks_not_a_mapping_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        user_type().hooks(role=lambda **_: None)  # type: ignore[arg-type]
    assert "expected {'create': fn, 'update': fn}" in only_issue(exc.value, "User.hooks.role")


def test_hook_on_unknown_operation_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        user_type().hooks(role={"delete": lambda **_: None})  # type: ignore[dict-item]
    assert "'create' or 'update'" in only_issue(exc.value, "User.hooks.role.delete")


def test_hook_that_is_not_callable_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        user_type().hooks(role={"create": "USER"})  # type: ignore[dict-item]
    assert "callable" in only_issue(exc.value, "User.hooks.role.create")


def test_every_hook_mistake_reported() -> None:
    with pytest.raises(ConfigError) as exc:
        user_type().hooks(nope={}, role={"create": 1, "delete": lambda **_: None})  # type: ignore[dict-item]
    assert issue_paths(exc.value) == [
        "User.hooks.nope",
        "User.hooks.role.create",
        "User.hooks.role.delete",
    ]


# --- validate -------------------------------------------------------------------------------


def test_validate_accepts_fn_pair_and_list() -> None:
    def ok(**_: object) -> bool:
        return True

    user = user_type()
    returned = user.validate(
        email=ok,
        role=(ok, "only admins can make admins"),
        organization_id=[ok, (ok, "second")],
    )
    assert returned is user
    assert user.validators == {
        "email": [(ok, "email is not valid")],
        "role": [(ok, "only admins can make admins")],
        "organization_id": [(ok, "organization_id is not valid"), (ok, "second")],
    }


def test_validate_appends_across_calls() -> None:
    def ok(**_: object) -> bool:
        return True

    user = user_type().validate(role=ok).validate(role=(ok, "again"))
    assert [m for _, m in user.validators["role"]] == ["role is not valid", "again"]


def test_validate_on_unknown_field_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        user_type().validate(nope=lambda **_: True)
    assert "no field 'nope'" in only_issue(exc.value, "User.validate.nope")


def test_validate_on_implicit_id_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        user_type().validate(id=lambda **_: True)
    assert "no field 'id'" in only_issue(exc.value, "User.validate.id")


def test_validate_with_wrong_shape_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        user_type().validate(role="must be admin")  # type: ignore[arg-type]
    assert "expected fn or (fn, message)" in only_issue(exc.value, "User.validate.role[0]")


def test_validate_pair_with_non_string_message_refused() -> None:
    def ok(**_: object) -> bool:
        return True

    with pytest.raises(ConfigError) as exc:
        user_type().validate(role=[(ok, 42)])  # type: ignore[list-item]
    assert "expected (fn, message)" in only_issue(exc.value, "User.validate.role[0]")


def test_validate_list_with_one_bad_item_names_its_index() -> None:
    def ok(**_: object) -> bool:
        return True

    with pytest.raises(ConfigError) as exc:
        user_type().validate(role=[ok, (ok, "fine"), "oops"])  # type: ignore[list-item]
    assert issue_paths(exc.value) == ["User.validate.role[2]"]
