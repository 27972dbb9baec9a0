"""``define_config`` and ``load_app``: one app, one auth and one config, from ``--app``."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from authward import ConfigError, Principal, db, define_auth, define_config
from authward.config import Config, load_app
from authward.config.db import DbType

EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "app.py"

APP_HEADER = """\
from authward import db, define_auth, define_config
"""


@pytest.fixture(autouse=True)
def restore_import_state() -> Iterator[None]:
    """load_app adds the app's folder to sys.path and the module to sys.modules; undo both."""
    path_before = list(sys.path)
    modules_before = set(sys.modules)
    yield
    sys.path[:] = path_before
    for name in set(sys.modules) - modules_before:
        if name.startswith("authward_app_") or name == "models":
            del sys.modules[name]


def write_app(directory: Path, body: str, name: str = "app.py") -> Path:
    file = directory / name
    file.write_text(APP_HEADER + textwrap.dedent(body))
    return file


def user_type(name: str = "User") -> DbType:
    return db.type(name, {"email": db.string().unique(), "role": db.enum(["ADMIN", "USER"])})


def profile_auth(user: DbType) -> object:
    return define_auth(
        "my-auth",
        user_profile={"type": user, "username_field": "email", "attributes": {"role": True}},
    )


# --- define_config --------------------------------------------------------------------------


def test_define_config_accepted() -> None:
    auth = define_auth("my-auth")
    item = db.type("Item", {"title": db.string()})
    config = define_config(auth=auth, db=[item])
    assert isinstance(config, Config)
    assert config.auth is auth
    assert config.db_types == (item,)


def test_define_config_without_types() -> None:
    assert define_config(auth=define_auth("my-auth")).db_types == ()


def test_define_config_is_immutable() -> None:
    config = define_config(auth=define_auth("my-auth"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.auth = define_auth("other")  # type: ignore[misc]


@pytest.mark.parametrize("wrap", [list, tuple])
def test_a_list_of_auths_refused(wrap: type) -> None:
    auths = wrap([define_auth("one"), define_auth("two")])
    with pytest.raises(ConfigError) as exc:
        define_config(auth=auths)
    (issue,) = exc.value.issues
    assert issue.path == "define_config.auth"
    assert "exactly one auth" in issue.message


def test_a_list_of_one_auth_refused_too() -> None:
    with pytest.raises(ConfigError, match="exactly one auth"):
        define_config(auth=[define_auth("one")])  # type: ignore[arg-type]


def test_auth_must_come_from_define_auth() -> None:
    with pytest.raises(ConfigError) as exc:
        define_config(auth={"name": "my-auth"})  # type: ignore[arg-type]
    (issue,) = exc.value.issues
    assert issue.path == "define_config.auth"
    assert "define_auth()" in issue.message


def test_profile_type_included_automatically_and_first() -> None:
    user = user_type()
    item = db.type("Item", {"title": db.string()})
    assert define_config(auth=profile_auth(user)).db_types == (user,)  # type: ignore[arg-type]
    assert define_config(auth=profile_auth(user), db=[item]).db_types == (user, item)  # type: ignore[arg-type]


def test_profile_type_listed_explicitly_is_not_repeated() -> None:
    user = user_type()
    item = db.type("Item", {"title": db.string()})
    config = define_config(auth=profile_auth(user), db=[item, user])  # type: ignore[arg-type]
    assert config.db_types == (item, user)


def test_same_type_object_twice_kept_once() -> None:
    item = db.type("Item", {"title": db.string()})
    assert define_config(auth=define_auth("my-auth"), db=[item, item]).db_types == (item,)


def test_duplicate_type_names_refused() -> None:
    first = db.type("Item", {"title": db.string()})
    second = db.type("Item", {"name": db.string()})
    with pytest.raises(ConfigError) as exc:
        define_config(auth=define_auth("my-auth"), db=[first, second])
    (issue,) = exc.value.issues
    assert issue.path == "define_config.db[1]"
    assert "type 'Item' defined twice" in issue.message


def test_profile_type_and_another_type_of_the_same_name_refused() -> None:
    profile_user = user_type()
    other_user = db.type("User", {"name": db.string()})
    with pytest.raises(ConfigError) as exc:
        define_config(auth=profile_auth(profile_user), db=[other_user])  # type: ignore[arg-type]
    (issue,) = exc.value.issues
    assert issue.path == "define_config.db"
    assert "type 'User' defined twice" in issue.message


def test_db_entries_must_be_db_types() -> None:
    item = db.type("Item", {"title": db.string()})
    with pytest.raises(ConfigError) as exc:
        define_config(auth=define_auth("my-auth"), db=[item, "Order"])  # type: ignore[list-item]
    (issue,) = exc.value.issues
    assert issue.path == "define_config.db[1]"
    assert "db.type" in issue.message


def test_define_config_reports_every_mistake() -> None:
    item = db.type("Item", {"title": db.string()})
    again = db.type("Item", {"title": db.string()})
    with pytest.raises(ConfigError) as exc:
        define_config(auth=[define_auth("a")], db=[item, again, 3])  # type: ignore[arg-type, list-item]
    assert len(exc.value.issues) > 1
    assert [i.path for i in exc.value.issues] == [
        "define_config.auth",
        "define_config.db[1]",
        "define_config.db[2]",
    ]


# --- load_app: finding the file -------------------------------------------------------------


def test_missing_file_mentions_the_app_option(tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    with pytest.raises(ConfigError) as exc:
        load_app(missing)
    message = str(exc.value)
    assert str(missing) in message
    assert "not found" in message
    assert "--app" in message
    assert "AUTHWARD_APP" in message


def test_folder_without_app_py_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--app"):
        load_app(tmp_path)


def test_folder_loads_its_app_py(tmp_path: Path) -> None:
    write_app(tmp_path, "config = define_config(auth=define_auth('my-auth'))\n")
    config, module = load_app(tmp_path)
    assert config.auth.name == "my-auth"
    assert module.config is config


def test_path_given_as_a_string(tmp_path: Path) -> None:
    file = write_app(tmp_path, "config = define_config(auth=define_auth('my-auth'))\n", "svc.py")
    config, module = load_app(str(file))
    assert config.auth.name == "my-auth"
    assert module.__name__ == "authward_app_svc"


# --- load_app: finding the config -----------------------------------------------------------


def test_one_auth_and_one_config_accepted(tmp_path: Path) -> None:
    file = write_app(
        tmp_path,
        """
        auth = define_auth("my-auth", machine_users={"bot": {}})
        config = define_config(auth=auth)
        """,
    )
    config, module = load_app(file)
    assert config is module.config
    assert config.auth is module.auth
    assert list(config.auth.machine_users) == ["bot"]


def test_same_auth_under_two_names_is_one_auth(tmp_path: Path) -> None:
    file = write_app(
        tmp_path,
        """
        auth = define_auth("my-auth")
        alias = auth
        config = define_config(auth=auth)
        """,
    )
    assert load_app(file)[0].auth.name == "my-auth"


def test_two_auths_refused(tmp_path: Path) -> None:
    file = write_app(
        tmp_path,
        """
        first = define_auth("first")
        second = define_auth("second")
        config = define_config(auth=first)
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_app(file)
    message = str(exc.value)
    assert "app.py defines 2 auths (first, second)" in message
    assert "exactly one" in message


def test_auth_not_used_by_the_config_refused(tmp_path: Path) -> None:
    file = write_app(
        tmp_path,
        """
        stray = define_auth("stray")
        config = define_config(auth=define_auth("used"))
        """,
    )
    with pytest.raises(ConfigError, match="does not use; an application has exactly one auth"):
        load_app(file)


def test_no_config_refused(tmp_path: Path) -> None:
    file = write_app(tmp_path, "auth = define_auth('my-auth')\n")
    with pytest.raises(ConfigError) as exc:
        load_app(file)
    message = str(exc.value)
    assert "app.py defines no config" in message
    assert "define_config(auth=...)" in message


def test_two_configs_refused(tmp_path: Path) -> None:
    file = write_app(
        tmp_path,
        """
        auth = define_auth("my-auth")
        config = define_config(auth=auth)
        other = define_config(auth=auth)
        """,
    )
    with pytest.raises(ConfigError, match="defines 2 configs"):
        load_app(file)


# --- load_app: errors while importing -------------------------------------------------------


def test_import_error_inside_the_app_is_wrapped(tmp_path: Path) -> None:
    file = write_app(tmp_path, "import module_that_does_not_exist_anywhere\n", "service.py")
    with pytest.raises(ConfigError) as exc:
        load_app(file)
    message = str(exc.value)
    assert "importing service.py failed" in message
    assert "ModuleNotFoundError" in message
    assert "module_that_does_not_exist_anywhere" in message
    assert isinstance(exc.value.__cause__, ModuleNotFoundError)


def test_runtime_error_inside_the_app_is_wrapped(tmp_path: Path) -> None:
    file = write_app(tmp_path, "raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match=r"importing app\.py failed: RuntimeError: boom"):
        load_app(file)


def test_syntax_error_inside_the_app_is_wrapped(tmp_path: Path) -> None:
    file = write_app(tmp_path, "config = (\n")
    with pytest.raises(ConfigError, match=r"importing app\.py failed: SyntaxError"):
        load_app(file)


def test_config_error_inside_the_app_keeps_its_paths(tmp_path: Path) -> None:
    file = write_app(
        tmp_path,
        """
        auth = define_auth(
            "my-auth",
            oauth2_clients={"c": {"redirect_uris": ["http://example.com/cb"]}},
        )
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_app(file)
    assert [i.path for i in exc.value.issues] == ["oauth2_clients['c'].redirect_uris[0]"]


def test_sibling_modules_import_like_python_app_py(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(
        "from authward import db\nitem = db.type('Item', {'title': db.string()})\n"
    )
    file = write_app(
        tmp_path,
        """
        from models import item
        config = define_config(auth=define_auth("my-auth"), db=[item])
        """,
    )
    config, _ = load_app(file)
    assert [t.name for t in config.db_types] == ["Item"]


def test_loading_twice_gives_a_fresh_module(tmp_path: Path) -> None:
    file = write_app(tmp_path, "config = define_config(auth=define_auth('my-auth'))\n")
    first, _ = load_app(file)
    second, _ = load_app(file)
    assert first is not second


# --- the example app ------------------------------------------------------------------------


def test_example_app_loads_with_the_seed_machine_users() -> None:
    config, _ = load_app(EXAMPLE_APP)
    auth = config.auth
    assert auth.name == "my-auth"
    assert list(auth.machine_users) == ["admin-machine-user", "readonly-machine-user"]
    admin = auth.machine_users["admin-machine-user"]
    reader = auth.machine_users["readonly-machine-user"]
    assert dict(admin.attributes) == {"role": "ADMIN"}
    assert dict(reader.attributes) == {"role": "READER"}
    assert admin.attribute_list == (
        UUID("550e8400-e29b-41d4-a716-446655440000"),
        UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
    )
    assert reader.attribute_list[0] == UUID("550e8400-e29b-41d4-a716-446655440000")
    assert auth.invoker("admin-machine-user").machine_user == "admin-machine-user"


def test_example_app_profile_and_client() -> None:
    config, module = load_app(EXAMPLE_APP)
    profile = config.auth.user_profile
    assert profile is not None
    assert profile.type is module.user
    assert profile.username_field == "email"
    assert profile.attributes == ("role",)
    assert profile.attribute_list == ("organization_id", "team_id")
    assert config.db_types == (module.user,)
    client = config.auth.oauth2_clients["my-oauth2-client"]
    assert client.redirect_uris == (
        "https://example.com/callback",
        "http://127.0.0.1:3000/callback",
    )
    assert client.grant_types == ("authorization_code", "refresh_token")
    assert client.access_token_lifetime_seconds == 3600
    assert client.refresh_token_lifetime_seconds == 604800
    assert client.require_dpop is True


def test_example_app_hooks_and_validators_see_the_principal() -> None:
    _, module = load_app(EXAMPLE_APP)
    user = module.user
    create_role = user.field_hooks["role"]["create"]
    assert create_role(user=None, value=None, data={}) == "USER"
    assert create_role(user=None, value="READER", data={}) == "READER"
    ((check, message),) = user.validators["role"]
    assert message == "only admins can make admins"
    admin = Principal("machine", "machine", "1", "admin", attributes={"role": "ADMIN"})
    reader = Principal("machine", "machine", "2", "reader", attributes={"role": "READER"})
    assert check(user=admin, value="ADMIN", data={})
    assert not check(user=reader, value="ADMIN", data={})
    assert not check(user=None, value="ADMIN", data={})
    assert check(user=reader, value="USER", data={})
