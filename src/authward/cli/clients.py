"""``authward oauth2client list|get``, and ``registered list|revoke`` (RFC 7591 clients)."""

from __future__ import annotations

__all__ = ["app"]

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
from authward.cli.registered_clients import app as registered_app
from authward.store.records import StoredClient

app = typer.Typer(help="OAuth 2.0 clients.", no_args_is_help=True)
app.add_typer(registered_app, name="registered")


def _as_dict(c: StoredClient) -> dict[str, Any]:
    return {
        "name": c.name,
        "client_id": c.client_id,
        "description": c.description,
        "redirect_uris": list(c.redirect_uris),
        "grant_types": list(c.grant_types),
        "access_token_lifetime_seconds": c.access_token_lifetime_seconds,
        "refresh_token_lifetime_seconds": c.refresh_token_lifetime_seconds,
        "require_dpop": c.require_dpop,
        "created_at": c.created_at,
    }


@app.command("list")
def list_clients(app_path: AppOption = Path("app.py"), as_json: JsonOption = False) -> None:
    """The OAuth 2.0 clients the config defines (without secrets)."""

    async def body() -> list[dict[str, Any]]:
        async with open_runtime(app_path) as aw:
            await note_unsynced(aw, app_path)
            return [_as_dict(c) for c in await aw.clients.list()]

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    table = make_table("name", "client_id", "grant types", "redirect URIs", "DPoP")
    for r in rows:
        table.add_row(
            r["name"],
            r["client_id"],
            ", ".join(r["grant_types"]),
            "\n".join(r["redirect_uris"]),
            "required" if r["require_dpop"] else "optional",
        )
    console.print(table)


@app.command("get")
def get_client(
    name: Annotated[str, typer.Argument(help="The client's name in the config.")],
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Print a client's id and secret."""

    async def body() -> dict[str, Any] | None:
        async with open_runtime(app_path) as aw:
            client = await aw.clients.get(name)
            secret = await aw.clients.client_secret(name)
            if client is None or secret is None:
                if name in aw.config.auth.oauth2_clients:
                    raise not_in_store("OAuth 2.0 client", name)
                return None
            return {**_as_dict(client), "client_secret": secret.get_secret_value()}

    row = run(body())
    if row is None:
        raise fail(f"no OAuth 2.0 client {name!r} in the config")
    if as_json:
        print_json(row)
        return
    lifetimes = {
        k: row[k] or "default"
        for k in ("access_token_lifetime_seconds", "refresh_token_lifetime_seconds")
    }
    lines = {
        "name": row["name"],
        "client_id": row["client_id"],
        "client_secret": row["client_secret"],
        "grant_types": " ".join(row["grant_types"]),
        "redirect_uris": " ".join(row["redirect_uris"]),
        **lifetimes,
        "require_dpop": str(row["require_dpop"]).lower(),
    }
    # Plain lines, never truncated, so the secret can be copied whole.
    width = max(map(len, lines))
    for key, value in lines.items():
        print(f"{key.ljust(width)}  {value}")
