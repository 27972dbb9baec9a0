"""``authward user create|list|disable|enable|set-password``: local users (docs/users.md).

Passwords are read from stdin only (``--password-stdin``), never from arguments, which other
users of the machine can see in the process list and which shells keep in their history.
"""

from __future__ import annotations

__all__ = ["app"]

import json
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer

from authward.cli.common import AppOption, JsonOption, console, fail, open_runtime, print_json, run
from authward.cli.common import table as make_table
from authward.config.app import Config
from authward.config.fields import Field
from authward.errors import ConfigError, RecordError
from authward.principal import Principal

if TYPE_CHECKING:
    from authward.runtime import Authward
    from authward.users import UserAccount

app = typer.Typer(help="Local users (sign in with a username and password).", no_args_is_help=True)

PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def _as_dict(u: UserAccount) -> dict[str, Any]:
    return {
        "id": u.id,
        "username": u.username,
        "profile_id": u.profile_id,
        "disabled": u.disabled,
        "created_at": u.created_at,
    }


def _read_password() -> str:
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise fail("no password on stdin (give it as the first line)")
    return password


def _parse_value(type_name: str, name: str, f: Field, raw: str) -> object:
    """A ``--attribute`` value for a field of the given kind (arrays as JSON lists)."""
    try:
        if f.array:
            value = json.loads(raw)
            if not isinstance(value, list):
                raise ValueError("expected a JSON list")
            return [_scalar(f, v) if isinstance(v, str) else v for v in value]
        return _scalar(f, raw)
    except ValueError as exc:
        raise RecordError(type_name, name, f"cannot read {raw!r}: {exc}") from None


def _scalar(f: Field, raw: str) -> object:
    if f.kind == "bool":
        if raw.lower() not in ("true", "false"):
            raise ValueError("expected true or false")
        return raw.lower() == "true"
    if f.kind == "int":
        return int(raw)
    if f.kind == "float":
        return float(raw)
    if f.kind == "datetime":
        return datetime.fromisoformat(raw)
    if f.kind == "date":
        return date.fromisoformat(raw)
    if f.kind == "time":
        return time.fromisoformat(raw)
    return raw


def _profile_values(config: Config, attributes: list[str]) -> dict[str, object]:
    profile = config.auth.user_profile
    if profile is None:
        if attributes:
            raise ConfigError("the app defines no user_profile: --attribute has nothing to set")
        return {}
    values: dict[str, object] = {}
    for item in attributes:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise fail(f"--attribute {item!r}: expected FIELD=VALUE")
        f = profile.type.fields.get(name)
        if f is None:
            raise RecordError(profile.type.name, name, f"{profile.type.name} has no such field")
        values[name] = _parse_value(profile.type.name, name, f, raw)
    return values


async def _acting_as(aw: Authward, name: str | None) -> Principal | None:
    if name is None:
        return None
    if name not in aw.config.auth.machine_users:
        known = ", ".join(sorted(aw.config.auth.machine_users)) or "none are defined"
        raise ConfigError(f"--as: no machine user {name!r} (known: {known})")
    stored = await aw.machine_users.get(name)
    if stored is None:
        raise ConfigError(
            f"--as: machine user {name!r} is not in the store: run `authward migrate`"
        )
    return Principal(
        authenticator="authward",
        principal_type="machine",
        principal_id=str(stored.id),
        subject=str(stored.id),
        attributes=stored.attributes,
        attribute_list=tuple(UUID(v) for v in stored.attribute_list),
    )


@app.command("create")
def create(
    username: Annotated[str, typer.Option("--username", help="What the user signs in with.")],
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool,
        typer.Option("--no-password", help="No local password (signs in through the IdP)."),
    ] = False,
    attribute: Annotated[
        list[str] | None,
        typer.Option(
            "--attribute",
            help="A profile field, FIELD=VALUE (repeatable; array fields as a JSON list).",
        ),
    ] = None,
    acting_as: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Act as this machine user, for the profile type's hooks and validators.",
        ),
    ] = None,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Create a user and its profile record."""
    if password_stdin == no_password:
        raise fail("give --password-stdin (and the password on stdin), or --no-password")
    password = _read_password() if password_stdin else None

    async def body() -> UserAccount:
        async with open_runtime(app_path) as aw:
            profile = _profile_values(aw.config, attribute or [])
            actor = await _acting_as(aw, acting_as)
            return await aw.users.create(username, password, profile=profile, actor=actor)

    account = run(body())
    if as_json:
        print_json(_as_dict(account))
        return
    console.print(f"created user {account.username} ({account.id})", highlight=False)


@app.command("list")
def list_users(app_path: AppOption = Path("app.py"), as_json: JsonOption = False) -> None:
    """Every local user."""

    async def body() -> list[UserAccount]:
        async with open_runtime(app_path) as aw:
            return await aw.users.list()

    rows = run(body())
    if as_json:
        print_json([_as_dict(u) for u in rows])
        return
    table = make_table("username", "id", "status", "created")
    for u in rows:
        status = "disabled" if u.disabled else "active"
        table.add_row(u.username, u.id, status, f"{u.created_at:%Y-%m-%d %H:%M:%S}Z")
    console.print(table)


@app.command("disable")
def disable(
    username: Annotated[str, typer.Argument(help="The user's username.")],
    app_path: AppOption = Path("app.py"),
) -> None:
    """Refuse the user's sign-ins and end its sessions at once."""

    async def body() -> UserAccount:
        async with open_runtime(app_path) as aw:
            return await aw.users.disable(username, actor="cli")

    account = run(body())
    console.print(f"disabled user {account.username}; its sessions are ended", highlight=False)


@app.command("enable")
def enable(
    username: Annotated[str, typer.Argument(help="The user's username.")],
    app_path: AppOption = Path("app.py"),
) -> None:
    """Let a disabled user sign in again."""

    async def body() -> UserAccount:
        async with open_runtime(app_path) as aw:
            return await aw.users.enable(username, actor="cli")

    account = run(body())
    console.print(f"enabled user {account.username}", highlight=False)


@app.command("set-password")
def set_password(
    username: Annotated[str, typer.Argument(help="The user's username.")],
    password_stdin: PasswordStdin = False,
    app_path: AppOption = Path("app.py"),
) -> None:
    """Replace the user's password (read from stdin)."""
    if not password_stdin:
        raise fail("give --password-stdin and the password on stdin")
    password = _read_password()

    async def body() -> None:
        async with open_runtime(app_path) as aw:
            await aw.users.set_password(username, password, actor="cli")

    run(body())
    console.print(f"password set for {username}", highlight=False)
