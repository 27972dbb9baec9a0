"""``authward oauth2client registered list|revoke``: clients that registered themselves through
RFC 7591 (docs/client-registration.md). ``--json`` prints the management API's shape."""

from __future__ import annotations

__all__ = ["app"]

from pathlib import Path
from typing import Annotated, Any

import typer

from authward.cli.common import (
    AppOption,
    JsonOption,
    open_runtime,
    print_rows,
    revoke_and_report,
    run,
)

app = typer.Typer(
    help="Clients registered through dynamic registration (RFC 7591).", no_args_is_help=True
)


@app.command("list")
def list_registered(app_path: AppOption = Path("app.py"), as_json: JsonOption = False) -> None:
    """Registered clients, oldest first (never their secrets)."""

    async def body() -> list[dict[str, Any]]:
        # Here, not at the top: `--help` must not import the server (cli/lazy.py).
        from authward.server.registered_clients_api import registered_client_out

        async with open_runtime(app_path) as aw:
            rows = await aw.dynamic_clients.list()
            return [registered_client_out(r).model_dump(mode="json") for r in rows]

    print_rows(
        run(body()),
        as_json,
        ("client_id", "name", "type", "auth method", "redirect URIs", "registered"),
        lambda r: (
            r["client_id"],
            r["client_name"] or "",
            r["application_type"],
            r["token_endpoint_auth_method"],
            "\n".join(r["redirect_uris"]),
            r["created_at"],
        ),
    )


@app.command("revoke")
def revoke_registered(
    client_id: Annotated[str, typer.Argument(help="The client's id (from `registered list`).")],
    app_path: AppOption = Path("app.py"),
) -> None:
    """Remove a registered client and end its grants: its refresh tokens are refused at once, its
    access tokens by every server within the cache refresh interval."""
    revoke_and_report(
        app_path,
        lambda aw: aw.dynamic_clients.revoke(client_id, actor="cli"),
        lambda aw: aw.dynamic_clients.get(client_id),
        what=f"registered client {client_id}",
        unknown=f"no registered client {client_id!r}",
    )
