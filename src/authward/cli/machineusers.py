"""``authward machineuser list|token|credentials``."""

from __future__ import annotations

__all__ = ["app"]

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from authward.cli.common import (
    AppOption,
    JsonOption,
    console,
    fail,
    not_in_store,
    note_unsynced,
    open_runtime,
    print_json,
    run,
)
from authward.cli.common import table as make_table
from authward.store.records import StoredMachineUser

app = typer.Typer(help="Machine users (service accounts).", no_args_is_help=True)


def _as_dict(mu: StoredMachineUser) -> dict[str, Any]:
    return {
        "name": mu.name,
        "id": str(mu.id),
        "client_id": mu.client_id,
        "attributes": dict(mu.attributes),
        "attribute_list": list(mu.attribute_list),
        "created_at": mu.created_at,
    }


@app.command("list")
def list_machine_users(app_path: AppOption = Path("app.py"), as_json: JsonOption = False) -> None:
    """The machine users the config defines."""

    async def body() -> list[dict[str, Any]]:
        async with open_runtime(app_path) as aw:
            await note_unsynced(aw, app_path)
            return [_as_dict(mu) for mu in await aw.machine_users.list()]

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    table = make_table("name", "client_id", "attributes", "attribute list")
    for r in rows:
        attrs = ", ".join(f"{k}={v}" for k, v in r["attributes"].items())
        table.add_row(r["name"], r["client_id"], attrs, "\n".join(r["attribute_list"]))
    console.print(table)


@app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="The machine user's name.")],
    app_path: AppOption = Path("app.py"),
    lifetime: Annotated[
        int | None, typer.Option(min=60, max=86_400, help="Seconds (default from settings).")
    ] = None,
    audience: Annotated[str | None, typer.Option(help="The aud claim (default: issuer).")] = None,
) -> None:
    """Print an access token for the machine user, and nothing else."""

    async def body() -> str:
        async with open_runtime(app_path) as aw:
            return await aw.machine_user_token(name, lifetime_seconds=lifetime, audience=audience)

    sys.stdout.write(run(body()) + "\n")


@app.command("credentials")
def credentials(
    name: Annotated[str, typer.Argument(help="The machine user's name.")],
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Print the machine user's OAuth 2.0 client credentials and where to use them."""

    async def body() -> dict[str, str] | None:
        async with open_runtime(app_path) as aw:
            stored = await aw.machine_users.get(name)
            secret = await aw.machine_users.client_secret(name)
            if stored is None or secret is None:
                if name in aw.config.auth.machine_users:
                    raise not_in_store("machine user", name)
                return None
            return {
                "name": name,
                "client_id": stored.client_id,
                "client_secret": secret.get_secret_value(),
                "token_endpoint": aw.issuer + "/oauth2/token",
                "grant_type": "client_credentials",
            }

    row = run(body())
    if row is None:
        raise fail(f"no machine user {name!r} in the config")
    if as_json:
        print_json(row)
        return
    width = max(map(len, row))
    for key, value in row.items():
        print(f"{key.ljust(width)}  {value}")
    print()
    print("Get a token (client_secret_basic, RFC 6749 §4.4):")
    print(
        f"  curl -s -u '{row['client_id']}:<client_secret>' "
        f"-d grant_type=client_credentials {row['token_endpoint']}"
    )
