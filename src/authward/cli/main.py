"""``authward``: serve, migrate, generate, keys, machineuser, oauth2client, token."""

from __future__ import annotations

__all__ = ["app", "main"]

from typing import Annotated

import typer

from authward.cli import (
    apikeys,
    clients,
    connections,
    consents,
    jobs,
    keys,
    machines,
    machineusers,
    orgs,
    serve,
    tokens,
    users,
    worker,
)
from authward.cli.common import State

app = typer.Typer(
    name="authward",
    help="authward: identity, OAuth 2.0 and auth for your API, agents and jobs.",
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
    State.debug = debug


serve.register(app)
worker.register(app)
app.add_typer(keys.app, name="keys")
app.add_typer(machineusers.app, name="machineuser")
app.add_typer(clients.app, name="oauth2client")
app.add_typer(tokens.app, name="token")
app.add_typer(apikeys.app, name="apikey")
app.add_typer(orgs.app, name="org")
app.add_typer(machines.machine_app, name="machine")
app.add_typer(machines.m2m_app, name="m2m")
app.add_typer(users.app, name="user")
app.add_typer(consents.app, name="consent")
app.add_typer(connections.app, name="connection")
app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(jobs.runs_app, name="runs")


def main() -> None:
    app()
