"""``authward consent list|revoke``: what users allowed OAuth clients, and taking it back."""

from __future__ import annotations

__all__ = ["app"]

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from authward.cli.common import AppOption, JsonOption, console, fail, open_runtime, print_json, run
from authward.cli.common import table as make_table
from authward.errors import AuthwardError

if TYPE_CHECKING:
    from authward.runtime import Authward

app = typer.Typer(help="Consents users gave OAuth 2.0 clients.", no_args_is_help=True)

UserArg = Annotated[str, typer.Argument(help="The user's username or id.")]


async def _user_id(aw: Authward, user: str) -> str:
    account = await aw.users.find(user) or await aw.users.get(user)
    if account is None:
        raise AuthwardError(f"no user {user!r} (give a username or a user id)")
    return str(account.id)


async def _client_names(aw: Authward) -> dict[str, str]:
    return {c.client_id: c.name for c in await aw.clients.list()}


@app.command("list")
def list_consents(
    user: Annotated[str, typer.Option("--user", help="The user's username or id.")],
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """The clients a user allowed, with the scopes allowed."""

    async def body() -> list[dict[str, Any]]:
        async with open_runtime(app_path) as aw:
            user_id = await _user_id(aw, user)
            names = await _client_names(aw)
            return [
                {
                    "client": names.get(c.client_id),
                    "client_id": c.client_id,
                    "scopes": list(c.scopes),
                    "created_at": c.created_at,
                    "updated_at": c.updated_at,
                }
                for c in await aw.consents.list(user_id)
            ]

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    table = make_table("client", "client_id", "scopes", "since")
    for r in rows:
        table.add_row(
            r["client"] or "(removed)",
            r["client_id"],
            " ".join(r["scopes"]),
            r["created_at"].isoformat(timespec="seconds"),
        )
    console.print(table)


@app.command("revoke")
def revoke_consent(
    user: UserArg,
    client: Annotated[str, typer.Argument(help="The client's name in the config, or its id.")],
    app_path: AppOption = Path("app.py"),
) -> None:
    """Forget what a user allowed a client: the consent page shows again next time."""

    async def body() -> bool:
        async with open_runtime(app_path) as aw:
            user_id = await _user_id(aw, user)
            names = await _client_names(aw)
            by_name = {name: cid for cid, name in names.items()}
            client_id = by_name.get(client, client)
            return await aw.consents.revoke(user_id, client_id, actor="cli")

    if not run(body()):
        raise fail(f"{user!r} has no consent for {client!r}")
    console.print(f"revoked the consent of {user} for {client}")
