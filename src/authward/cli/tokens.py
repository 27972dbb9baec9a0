"""``authward token verify|revoke``: inspect and revoke access tokens this issuer signed."""

from __future__ import annotations

__all__ = ["app"]

from pathlib import Path
from typing import Annotated, Any

import typer

from authward.cli.common import AppOption, console, open_runtime, print_json, run

app = typer.Typer(help="Access tokens.", no_args_is_help=True)
TokenArg = Annotated[str, typer.Argument(help="The access token.")]


@app.command("verify")
def verify(token: TokenArg, app_path: AppOption = Path("app.py")) -> None:
    """Verify a token and print the principal it acts as (exit 1 when refused)."""

    async def body() -> dict[str, Any]:
        async with open_runtime(app_path) as aw:
            p = await aw.verify_access_token(token.strip())
        return {
            "authenticator": p.authenticator,
            "principal_type": p.principal_type,
            "principal_id": p.principal_id,
            "subject": p.subject,
            "attributes": dict(p.attributes),
            "attribute_list": [str(u) for u in p.attribute_list],
        }

    print_json(run(body()))


@app.command("revoke")
def revoke(token: TokenArg, app_path: AppOption = Path("app.py")) -> None:
    """Revoke a token: every authward process refuses it from then on."""

    async def body() -> bool:
        async with open_runtime(app_path) as aw:
            return await aw.revoke_token(token.strip())

    console.print("revoked" if run(body()) else "already revoked")
