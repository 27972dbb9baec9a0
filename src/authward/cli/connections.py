"""``authward connection list|remove|add-developer``: the connected-accounts vault
(docs/connected-accounts.md).

Tokens are read from stdin only (``--token-stdin``), never from arguments, which other users of
the machine can see in the process list; no command prints a token.
"""

from __future__ import annotations

__all__ = ["app"]

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from authward.cli.common import AppOption, JsonOption, console, fail, open_runtime, print_rows, run
from authward.cli.common import when as cell_time
from authward.connections.client import TokenSet

app = typer.Typer(help="Connected third-party accounts (the vault).", no_args_is_help=True)


@app.command("list")
def list_connections(
    account: Annotated[
        str | None, typer.Option("--account", help="Only this account's connections.")
    ] = None,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Connections (never their tokens): account, provider, status, scopes, expiry."""

    async def body() -> list[dict[str, Any]]:
        async with open_runtime(app_path) as aw:
            return [c.as_dict() for c in await aw.connections.list(account)]

    print_rows(
        run(body()),
        as_json,
        ("account", "provider", "id", "status", "scopes", "expires", "external id"),
        lambda r: (
            r["account_id"] or "(developer)",
            r["provider"],
            r["id"],
            r["status"] + (f": {r['broken_reason']}" if r["broken_reason"] else ""),
            " ".join(r["scopes"]),
            cell_time(r["expires_at"], "never"),
            r["external_id"] or "",
        ),
    )


@app.command("remove")
def remove_connection(
    account: Annotated[str, typer.Argument(help="The account id ('developer' for your own).")],
    provider: Annotated[str, typer.Argument(help="The provider, e.g. oauth_slack.")],
    no_revoke: Annotated[
        bool, typer.Option("--no-revoke", help="Do not revoke the tokens at the provider.")
    ] = False,
    app_path: AppOption = Path("app.py"),
) -> None:
    """Remove a connection; its tokens are revoked at the provider when it has a revocation
    URL. The account (or resolver) has no token for that provider any more."""
    developer = account == "developer"

    async def body() -> bool:
        async with open_runtime(app_path) as aw:
            return await aw.connections.disconnect(
                "" if developer else account,
                provider,
                kind="developer" if developer else "account",
                revoke=not no_revoke,
                actor="cli",
            )

    if not run(body()):
        raise fail(f"{account!r} has no {provider} connection")
    console.print(f"removed the {provider} connection of {account}", highlight=False)


@app.command("add-developer")
def add_developer(
    provider: Annotated[str, typer.Argument(help="The provider, e.g. oauth_slack.")],
    # Taken so that a token given by mistake as an argument is refused without being echoed
    # (the CLI library's "unexpected extra argument" error would print it).
    stray: Annotated[list[str] | None, typer.Argument(hidden=True, show_default=False)] = None,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin",
            help="Read the access token from the first line of stdin (and a refresh token "
            "from the second, if any).",
        ),
    ] = False,
    expires_in: Annotated[
        int | None, typer.Option("--expires-in", help="Seconds until the access token expires.")
    ] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="A scope the token has (repeatable).")
    ] = None,
    app_path: AppOption = Path("app.py"),
) -> None:
    """Store the developer's own token for PROVIDER: integrations without an auth resolver
    use it (docs/integrations.md)."""
    if stray:
        raise fail(
            "unexpected argument (not shown: it may be a token); give the token on stdin with "
            "--token-stdin, never as an argument"
        )
    if not token_stdin:
        raise fail("give the token on stdin with --token-stdin (never as an argument)")
    lines = sys.stdin.read().splitlines()
    access = lines[0].strip() if lines else ""
    refresh = lines[1].strip() if len(lines) > 1 else ""
    if not access:
        raise fail("no token on stdin (give it as the first line)")
    if expires_in is not None and expires_in <= 0:
        raise fail("--expires-in must be a positive number of seconds")
    if not provider.startswith("oauth_"):
        raise fail(f"provider names start with 'oauth_' (e.g. oauth_{provider})")
    tokens = TokenSet(
        access_token=access,
        refresh_token=refresh or None,
        token_type="Bearer",  # noqa: S106 - a token type, not a secret
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in) if expires_in else None,
        scopes=tuple(scope) if scope else None,
    )

    async def body() -> str:
        async with open_runtime(app_path) as aw:
            if refresh and provider not in aw.connections.providers:
                aw.connections.provider(provider)  # refreshing needs the provider's config
            info = await aw.connections.store("", provider, tokens, kind="developer", actor="cli")
            return info.id

    connection_id = run(body())
    console.print(f"stored the developer's {provider} connection {connection_id}", highlight=False)
