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
    """New signing keys: one for access tokens (--alg), one for the ID tokens of each other
    algorithm the clients use; older keys stay published until their tokens have expired."""

    async def body() -> list[tuple[str, str]]:
        async with open_runtime(app_path) as aw:
            return [(k.kid, k.alg) for k in await aw.rotate_keys(alg)]

    for i, (kid, key_alg) in enumerate(run(body())):
        signs = "access and ID tokens" if i == 0 else "ID tokens"
        console.print(f"new signing key {kid} ({key_alg}, {signs})", highlight=False)


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
                "signs_access": k.signs_access,
                "published_until": k.publish_until,
            }
            for k in keys
        ]

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    table = make_table("kid", "alg", "created", "signing", "signs", "published until")
    for r in rows:
        table.add_row(
            str(r["kid"]),
            str(r["alg"]),
            str(r["created_at"]),
            "yes" if r["signing"] else "no",
            "access and ID tokens" if r["signs_access"] else "ID tokens",
            str(r["published_until"] or "-"),
        )
    console.print(table)
