"""A small, deterministic "agent" behind authward's auth chain (no LLM involved).

    authward serve --app examples/agent_channel.py
    TOKEN=$(authward machineuser token admin-machine-user --app examples/agent_channel.py)
    curl -s localhost:8000/agent -H "Authorization: Bearer $TOKEN" \
         -d '{"message": "delete report q3"}'

The principal accepted at the channel boundary shapes the instructions and authorizes each tool.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

# The same auth as examples/app.py: one auth per application, defined once.
from app import config  # noqa: F401  (authward finds the config here)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from authward.agents import current_auth, describe_principal, requires
from authward.channel import AuthMiddleware, authward_tokens, exception_handlers, local_dev

if TYPE_CHECKING:
    from authward.runtime import Authward

REPORTS = {"q1": "revenue up", "q2": "revenue flat", "q3": "revenue down"}


def instructions() -> str:
    """What the agent is told before it acts, enriched from the caller's attributes."""
    principal = current_auth()
    base = "You manage quarterly reports. Be brief."
    if principal.attributes.get("role") == "ADMIN":
        base += " The caller may delete reports."
    return f"{base} {describe_principal(principal)}"


@requires()
def list_reports() -> list[str]:
    return sorted(REPORTS)


@requires()
def read_report(name: str) -> str:
    return REPORTS.get(name, "no such report")


@requires(attribute={"role": "ADMIN"})
def delete_report(name: str) -> str:
    return f"deleted {name}" if REPORTS.get(name) else f"no report {name}"


def plan(message: str) -> tuple[str, Any]:
    """The "model": a fixed mapping from a message to one tool call."""
    if match := re.fullmatch(r"\s*delete report (\w+)\s*", message):
        return "delete_report", lambda: delete_report(match.group(1))
    if match := re.fullmatch(r"\s*read report (\w+)\s*", message):
        return "read_report", lambda: read_report(match.group(1))
    return "list_reports", list_reports


async def agent(request: Request) -> JSONResponse:
    body = await request.json()
    tool, call = plan(str(body.get("message", "")))
    return JSONResponse({"instructions": instructions(), "tool": tool, "result": call()})


def asgi(aw: Authward) -> ASGIApp:
    """Mounted by ``authward serve`` under ``/``."""
    app = Starlette(
        routes=[Route("/agent", agent, methods=["POST"])], exception_handlers=exception_handlers()
    )
    return AuthMiddleware(
        app,
        auth=[
            authward_tokens(
                tokens=aw.verifier,
                api_keys=aw.api_keys,
                dpop=aw.dpop,
                accepts_token=["api_key", "oauth_token"],
            ),
            local_dev(development=os.environ.get("AUTHWARD_ENVIRONMENT") == "development"),
        ],
    )
