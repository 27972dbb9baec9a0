"""``authward``: serve, migrate, generate, keys, machineuser, oauth2client, token.

Each command's module is imported only when that command runs (``authward.cli.lazy``), so the
help and every command start without importing what the others need."""

from __future__ import annotations

__all__ = ["COMMANDS", "app", "main"]

from typing import Annotated

import typer

from authward.cli.lazy import LazyCommand, LazyGroup


def _group(module: str, attribute: str, help: str) -> LazyCommand:
    return LazyCommand(f"authward.cli.{module}", attribute, help)


def _command(module: str, help: str) -> LazyCommand:
    return LazyCommand(f"authward.cli.{module}", None, help)


#: Every command and group, in the order ``authward --help`` lists them.
COMMANDS: dict[str, LazyCommand] = {
    "serve": _command(
        "serve",
        "Serve the app (migrating the embedded SQLite store first, then syncing the config).",
    ),
    "migrate": _command(
        "serve", "Apply schema migrations and the app's type tables, then sync the config."
    ),
    "generate": _command(
        "serve", "Write typed stubs (machine-user names, attribute TypedDicts) for mypy."
    ),
    "worker": _command(
        "worker",
        "Execute job runs and fire schedules (what `authward serve` also does in-process).",
    ),
    "keys": _group("keys", "app", "Signing keys."),
    "machineuser": _group("machineusers", "app", "Machine users (service accounts)."),
    "oauth2client": _group("clients", "app", "OAuth 2.0 clients."),
    "token": _group("tokens", "app", "Access tokens."),
    "apikey": _group("apikeys", "app", "API keys (for a user or an organization)."),
    "org": _group(
        "orgs",
        "app",
        "Organizations and their members (roles come from define_auth(organization_roles=...)).",
    ),
    "machine": _group(
        "machines",
        "machine_app",
        "Machines: services that verify M2M tokens with their machine secret key.",
    ),
    "m2m": _group(
        "machines",
        "m2m_app",
        "M2M tokens: a machine user's token for calling the machines of its audience.",
    ),
    "user": _group("users", "app", "Local users (sign in with a username and password)."),
    "consent": _group("consents", "app", "Consents users gave OAuth 2.0 clients."),
    "connection": _group("connections", "app", "Connected third-party accounts (the vault)."),
    "jobs": _group("jobs", "jobs_app", "Jobs the app module defines; test one."),
    "runs": _group("jobs", "runs_app", "Job runs: list, show, cancel."),
}


class _Commands(LazyGroup):
    LAZY = COMMANDS


app = typer.Typer(
    name="authward",
    help="authward: identity, OAuth 2.0 and auth for your API, agents and jobs.",
    cls=_Commands,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for errors.", envvar="AUTHWARD_DEBUG")
    ] = False,
) -> None:
    # The command's module (and so this one) is imported by now: commands resolve first.
    from authward.cli.common import State

    State.debug = debug


def main() -> None:
    app()
