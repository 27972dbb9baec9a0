"""``authward machine create|list|revoke`` and ``authward m2m create|list|revoke``.

Machines are the services M2M tokens are verified at (each holds a machine secret key); M2M
tokens act as one of the config's machine users at the machines of their audience.
"""

from __future__ import annotations

__all__ = ["m2m_app", "machine_app"]

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from authward.cli.common import (
    AppOption,
    JsonOption,
    fail,
    open_runtime,
    print_json,
    print_rows,
    revoke_and_report,
    run,
    when,
)
from authward.identity.m2m_tokens import M2MTokenInfo
from authward.identity.machines import Machine

machine_app = typer.Typer(
    help="Machines: services that verify M2M tokens with their machine secret key.",
    no_args_is_help=True,
)
m2m_app = typer.Typer(
    help="M2M tokens: a machine user's token for calling the machines of its audience.",
    no_args_is_help=True,
)

ScopeOption = Annotated[list[str] | None, typer.Option("--scope", help="A scope (repeatable).")]
AllOption = Annotated[bool, typer.Option("--all", help="Include revoked ones.")]


def _machine_dict(m: Machine) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "scopes": list(m.scopes),
        "created_at": m.created_at,
        "revoked_at": m.revoked_at,
        "status": m.status(),
    }


def _token_dict(t: M2MTokenInfo, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": t.id,
        "hint": t.hint,
        "machine_user": t.machine_user,
        "subject": t.subject,
        "audience": [{"id": a, "name": names.get(a)} for a in t.audience],
        "scopes": list(t.scopes),
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
        "status": t.status(),
    }


# -- machine ------------------------------------------------------------------------------------


@machine_app.command("create")
def machine_create(
    name: Annotated[str, typer.Argument(help="The machine's name (a slug, unique).")],
    scope: ScopeOption = None,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Register a machine and print its secret key; it is shown this once and never again."""

    async def body() -> dict[str, Any]:
        async with open_runtime(app_path) as aw:
            secret, machine = await aw.machines.create(name, scope or (), actor="cli")
        return {"machine_secret_key": secret, **_machine_dict(machine)}

    created = run(body())
    if as_json:
        print_json(created)
        return
    sys.stdout.write(created["machine_secret_key"] + "\n")
    sys.stdout.flush()
    sys.stderr.write(
        f"machine {created['name']} ({created['id']}) created. Copy its secret key now: it is "
        "shown only once (authward keeps only its digest).\n"
    )


@machine_app.command("list")
def machine_list(
    show_all: AllOption = False,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Machines, oldest first (never their secret keys)."""

    async def body() -> list[dict[str, Any]]:
        async with open_runtime(app_path) as aw:
            return [_machine_dict(m) for m in await aw.machines.list(include_revoked=show_all)]

    print_rows(
        run(body()),
        as_json,
        ("id", "name", "scopes", "created", "status"),
        lambda r: (
            r["id"],
            r["name"],
            " ".join(r["scopes"]) or "-",
            when(r["created_at"], "-"),
            r["status"],
        ),
    )


@machine_app.command("revoke")
def machine_revoke(
    name: Annotated[str, typer.Argument(help="The machine's name (or id).")],
    app_path: AppOption = Path("app.py"),
) -> None:
    """Revoke a machine: its secret key verifies nothing any more (every server within the cache
    refresh interval)."""

    revoke_and_report(
        app_path,
        lambda aw: aw.machines.revoke(name, actor="cli"),
        lambda aw: aw.machines.get(name),
        what=f"machine {name}",
        unknown=f"no machine {name!r}",
    )


# -- m2m ----------------------------------------------------------------------------------------


@m2m_app.command("create")
def m2m_create(
    machine_user: Annotated[str, typer.Argument(help="The machine user the token acts as.")],
    audience: Annotated[
        list[str] | None,
        typer.Option(
            "--audience", help="A machine (name or id) the token may be presented to (repeatable)."
        ),
    ] = None,
    scope: ScopeOption = None,
    expires_in: Annotated[
        int | None, typer.Option("--expires-in", min=1, help="Seconds until the token expires.")
    ] = None,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Create an M2M token and print it; it is shown this once and never again."""
    if not audience:
        raise fail("name at least one machine the token may be presented to: --audience MACHINE")

    async def body() -> dict[str, Any]:
        async with open_runtime(app_path) as aw:
            token, info = await aw.m2m_tokens.create(
                machine_user, audience, scope or (), expires_in, actor="cli"
            )
            names = {m.id: m.name for m in await aw.machines.list(include_revoked=True)}
        return {"token": token, **_token_dict(info, names)}

    created = run(body())
    if as_json:
        print_json(created)
        return
    sys.stdout.write(created["token"] + "\n")
    sys.stdout.flush()
    sys.stderr.write(
        f"M2M token {created['id']} created. Copy it now: it is shown only once "
        "(authward keeps only its digest).\n"
    )


@m2m_app.command("list")
def m2m_list(
    machine_user: Annotated[
        str | None, typer.Option("--machine-user", help="Only this machine user's tokens.")
    ] = None,
    show_all: AllOption = False,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """M2M tokens, oldest first (never the tokens: only their last characters)."""

    async def body() -> list[dict[str, Any]]:
        async with open_runtime(app_path) as aw:
            tokens = await aw.m2m_tokens.list(machine_user, include_revoked=show_all)
            names = {m.id: m.name for m in await aw.machines.list(include_revoked=True)}
        return [_token_dict(t, names) for t in tokens]

    print_rows(
        run(body()),
        as_json,
        ("id", "machine user", "audience", "scopes", "token", "expires", "status"),
        lambda r: (
            r["id"],
            r["machine_user"] or f"(removed) {r['subject']}",
            " ".join(a["name"] or a["id"] for a in r["audience"]),
            " ".join(r["scopes"]) or "-",
            f"mt_…{r['hint']}",
            when(r["expires_at"], "never"),
            r["status"],
        ),
    )


@m2m_app.command("revoke")
def m2m_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `m2m list`).")],
    app_path: AppOption = Path("app.py"),
) -> None:
    """Revoke an M2M token: refused at once here, by every server within the cache refresh
    interval."""

    revoke_and_report(
        app_path,
        lambda aw: aw.m2m_tokens.revoke(token_id, actor="cli"),
        lambda aw: aw.m2m_tokens.get(token_id),
        what=f"M2M token {token_id}",
        unknown=f"no M2M token {token_id}",
    )
