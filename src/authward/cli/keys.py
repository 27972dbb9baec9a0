"""``authward keys list|rotate``."""

from __future__ import annotations

__all__ = ["app"]

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from authward.cli.common import AppOption, JsonOption, console, open_runtime, print_json, run
from authward.cli.common import table as make_table
from authward.settings import SigningAlg

app = typer.Typer(help="Signing keys.", no_args_is_help=True)


@app.command("rotate")
def rotate(
    app_path: AppOption = Path("app.py"),
    alg: Annotated[SigningAlg | None, typer.Option(help="EdDSA (Ed25519) or ES256.")] = None,
) -> None:
    """Add a new signing key; older keys stay published until their tokens have expired."""

    async def body() -> str:
        async with open_runtime(app_path) as aw:
            return (await aw.rotate_keys(alg)).kid

    console.print(f"new signing key {run(body())}", highlight=False)


@app.command("list")
def list_keys(app_path: AppOption = Path("app.py"), as_json: JsonOption = False) -> None:
    """Published keys, newest first."""

    async def body() -> list[dict[str, object]]:
        async with open_runtime(app_path) as aw:
            keys = await aw.keys.published(datetime.now(UTC))
        return [
            {
                "kid": k.kid,
                "alg": k.alg,
                "created_at": k.created_at,
                "signing": k.retired_at is None,
                "published_until": k.publish_until,
            }
            for k in keys
        ]

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    table = make_table("kid", "alg", "created", "signing", "published until")
    for r in rows:
        table.add_row(
            str(r["kid"]),
            str(r["alg"]),
            str(r["created_at"]),
            "yes" if r["signing"] else "no",
            str(r["published_until"] or "-"),
        )
    console.print(table)
