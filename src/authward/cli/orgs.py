"""``authward org create|list|delete|members|add-member|set-role|remove-member``."""

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
    open_runtime,
    print_json,
    run,
)
from authward.cli.common import table as make_table
from authward.identity.orgs import Membership, Organization

app = typer.Typer(
    help="Organizations and their members (roles come from define_auth(organization_roles=...)).",
    no_args_is_help=True,
)

OrgArgument = Annotated[str, typer.Argument(help="The organization's id (org_...) or slug.")]
UserArgument = Annotated[str, typer.Argument(help="The user's id.")]
RoleOption = Annotated[
    str, typer.Option("--role", help="A role of define_auth(organization_roles=...).")
]


def _org(o: Organization) -> dict[str, Any]:
    return {
        "id": o.id,
        "slug": o.slug,
        "name": o.name,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
    }


def _member(m: Membership) -> dict[str, Any]:
    return {
        "org_id": m.org_id,
        "org_slug": m.org_slug,
        "user_id": m.user_id,
        "role": m.role,
        "permissions": list(m.permissions),
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


@app.command("create")
def create(
    slug: Annotated[str, typer.Argument(help="lower-case letters, digits and '-'.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Display name (default: the slug).")
    ] = None,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Create an organization and print its id."""

    async def body() -> dict[str, Any]:
        async with open_runtime(app_path) as aw:
            return _org(await aw.organizations.create(slug, name or slug, actor="cli"))

    created = run(body())
    if as_json:
        print_json(created)
        return
    console.print(created["id"], highlight=False)


@app.command("list")
def list_orgs(app_path: AppOption = Path("app.py"), as_json: JsonOption = False) -> None:
    """Every organization, by slug."""

    async def body() -> list[dict[str, Any]]:
        async with open_runtime(app_path) as aw:
            return [_org(o) for o in await aw.organizations.list()]

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    table = make_table("id", "slug", "name", "created")
    for r in rows:
        table.add_row(r["id"], r["slug"], r["name"], f"{r['created_at']:%Y-%m-%d %H:%M:%S}Z")
    console.print(table)


@app.command("delete")
def delete(org: OrgArgument, app_path: AppOption = Path("app.py")) -> None:
    """Delete an organization and its memberships, and revoke its API keys."""

    async def body() -> bool:
        async with open_runtime(app_path) as aw:
            return await aw.organizations.delete(org, actor="cli")

    if not run(body()):
        raise fail(f"no organization {org!r}")
    console.print(f"deleted organization {org}", highlight=False)


@app.command("members")
def members(
    org: OrgArgument, app_path: AppOption = Path("app.py"), as_json: JsonOption = False
) -> None:
    """The members of an organization, their roles and the roles' permissions."""

    async def body() -> list[dict[str, Any]]:
        async with open_runtime(app_path) as aw:
            return [_member(m) for m in await aw.organizations.members(org)]

    rows = run(body())
    if as_json:
        print_json(rows)
        return
    table = make_table("user", "role", "permissions", "since")
    for r in rows:
        table.add_row(
            r["user_id"],
            r["role"],
            " ".join(r["permissions"]) or "-",
            f"{r['created_at']:%Y-%m-%d %H:%M:%S}Z",
        )
    console.print(table)


@app.command("add-member")
def add_member(
    org: OrgArgument,
    user: UserArgument,
    role: RoleOption,
    app_path: AppOption = Path("app.py"),
    as_json: JsonOption = False,
) -> None:
    """Make a user a member of an organization with a role."""

    async def body() -> dict[str, Any]:
        async with open_runtime(app_path) as aw:
            return _member(await aw.organizations.add_member(org, user, role, actor="cli"))

    added = run(body())
    if as_json:
        print_json(added)
        return
    console.print(f"{user} is now {role} of {added['org_slug']}", highlight=False)


@app.command("set-role")
def set_role(
    org: OrgArgument,
    user: UserArgument,
    role: RoleOption,
    app_path: AppOption = Path("app.py"),
) -> None:
    """Change a member's role."""

    async def body() -> dict[str, Any]:
        async with open_runtime(app_path) as aw:
            return _member(await aw.organizations.set_role(org, user, role, actor="cli"))

    changed = run(body())
    console.print(f"{user} is now {role} of {changed['org_slug']}", highlight=False)


@app.command("remove-member")
def remove_member(
    org: OrgArgument, user: UserArgument, app_path: AppOption = Path("app.py")
) -> None:
    """Remove a user from an organization."""

    async def body() -> bool:
        async with open_runtime(app_path) as aw:
            return await aw.organizations.remove_member(org, user, actor="cli")

    if not run(body()):
        raise fail(f"{user!r} is not a member of {org!r}")
    console.print(f"removed {user} from {org}", highlight=False)
