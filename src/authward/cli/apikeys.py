"""``authward apikey create|list|revoke``: API keys for a user or an organization."""

from __future__ import annotations

__all__ = ["app"]

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

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
from authward.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from authward.identity.api_keys import ApiKeyInfo

app = typer.Typer(help="API keys (for a user or an organization).", no_args_is_help=True)

UserOption = Annotated[str | None, typer.Option("--user", help="The owning user's id.")]
OrgOption = Annotated[
    str | None,
    typer.Option("--org", help="The owning organization's id (org_...) or slug."),
]


def _as_dict(k: ApiKeyInfo) -> dict[str, Any]:
    return {
        "id": str(k.id),
        "name": k.name,
        "hint": k.hint,
        "user_id": k.user_id,
        "org_id": k.org_id,
        "scopes": list(k.scopes),
        "created_at": k.created_at,
        "expires_at": k.expires_at,
        "last_used_at": k.last_used_at,
        "revoked_at": k.revoked_at,
        "status": k.status(),
    }


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name to recognise the key by.")],
    user: UserOption = None,
    org: OrgOption = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="A scope the key carries (repeatable).")
    ] = None,
    expires_in: Annotated[
        int | None, typer.Option("--expires-in", min=1, help="Seconds until the key expires.")
    ] = None,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it; it is shown this once and never again."""
    if (user is None) == (org is None):
        raise fail("an API key belongs to exactly one owner: give --user ID or --org ID")
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in) if expires_in else None

    async def body() -> dict[str, Any]:
        async with open_runtime(app_path) as aw:
            try:
                secret, auth = await aw.api_keys.create(
                    name,
                    user_id=user,
                    org_id=org,
                    scopes=scope or (),
                    expires_at=expires_at,
                    actor="cli",
                )
            except ConfigError as exc:
                # Name the option the user typed rather than the service's argument.
                issues = exc.issues
                raise ConfigError(
                    [ConfigIssue("--org", i.message) if i.path == "org_id" else i for i in issues]
                ) from None
        return {
            "key": secret,
            "id": str(auth.key_id),
            "name": auth.name,
            "hint": secret[-4:],
            "user_id": auth.user_id,
            "org_id": auth.org_id,
            "scopes": list(auth.scopes),
            "expires_at": auth.expires_at,
        }

    created = run(body())
    if as_json:
        print_json(created)
        return
    sys.stdout.write(created["key"] + "\n")
    sys.stdout.flush()
    sys.stderr.write(
        f"API key {created['id']} created. Copy it now: it is shown only once "
        "(authward keeps only its digest).\n"
    )


@app.command("list")
def list_keys(
    user: UserOption = None,
    org: OrgOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """API keys, oldest first (never the secrets: only their last characters)."""

    async def body() -> list[dict[str, Any]]:
        async with open_runtime(app_path) as aw:
            keys = await aw.api_keys.list(user_id=user, org_id=org, include_revoked=show_all)
        return [_as_dict(k) for k in keys]

    print_rows(
        run(body()),
        as_json,
        ("id", "name", "owner", "scopes", "key", "expires", "last used", "status"),
        lambda r: (
            r["id"],
            r["name"],
            f"user {r['user_id']}" if r["user_id"] is not None else f"org {r['org_id']}",
            " ".join(r["scopes"]) or "-",
            f"ak_…{r['hint']}",
            when(r["expires_at"], "never"),
            when(r["last_used_at"], "-"),
            r["status"],
        ),
    )


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `apikey list`).")],
    app_path: AppOption = Path("app.py"),
) -> None:
    """Revoke a key: refused at once here, by every server within the cache refresh interval."""
    try:
        kid = UUID(key_id)
    except ValueError:
        raise fail(f"{key_id!r} is not an API key id (see `authward apikey list`)") from None

    revoke_and_report(
        app_path,
        lambda aw: aw.api_keys.revoke(kid, actor="cli"),
        lambda aw: aw.api_keys.get(kid),
        what=f"API key {kid}",
        unknown=f"no API key {kid}",
    )
