"""``MCPServer``: the official SDK's server, with authward's ``@requires`` understood.

It is the SDK's ``mcp.server.mcpserver.MCPServer`` (FastMCP in 1.x) with three additions:

- each tool's ``@requires(scope=...)`` scopes are remembered by tool name, so the HTTP gate can
  answer a call that lacks them with the step-up challenge before the tool runs;
- a ``@requires`` refusal inside a tool (a missing role, attribute, permission...) comes back to
  the client as a tool error naming what is missing, instead of the SDK's "unexpected error";
- ``instructions`` may be a function of the caller's ``Principal``: the ``initialize`` answer
  then carries the instructions written for whoever connects.
"""

from __future__ import annotations

__all__ = ["Instructions", "MCPServer"]

import functools
import inspect
from collections.abc import Callable
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer as SdkMCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import Icon, ToolAnnotations

from authward.agents import required_scopes
from authward.errors import Forbidden, UnauthenticatedError
from authward.mcp.verifier import PrincipalAccessToken
from authward.principal import Principal, current_principal, use_principal

#: Instructions written for the principal that connects (``None`` when nobody is signed in).
Instructions = Callable[[Principal | None], str]
#: The methods whose answer carries the server's instructions.
_WITH_INSTRUCTIONS = frozenset({"initialize", "server/discover"})


def _refusals_as_tool_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, with authward's refusals raised as the SDK's ``ToolError``: the client reads the
    reason, and the server logs one line instead of a traceback."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except (Forbidden, UnauthenticatedError) as exc:
                raise ToolError(str(exc)) from None

        return run_async

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (Forbidden, UnauthenticatedError) as exc:
            raise ToolError(str(exc)) from None

    return run


class MCPServer(SdkMCPServer[Any]):
    """The SDK's ``MCPServer``; every argument is the SDK's, but ``instructions`` may also be a
    function of the caller's principal."""

    def __init__(
        self,
        name: str | None = None,
        *,
        instructions: str | Instructions | None = None,
        **kwargs: Any,
    ) -> None:
        written = instructions if callable(instructions) else None
        fixed = instructions if isinstance(instructions, str) else None
        # The SDK sets up the root logger at this level (when nothing has yet): WARNING, as a
        # process without logging set up shows, not INFO, which would show every library's notes.
        kwargs.setdefault("log_level", "WARNING")
        super().__init__(name, instructions=fixed, **kwargs)
        self.__scopes: dict[str, tuple[str, ...]] = {}
        self.middleware.append(_principal_of_sdk_auth)
        if written is not None:
            self.middleware.append(_PersonalInstructions(written))

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        tool_name = name or fn.__name__
        super().add_tool(
            _refusals_as_tool_errors(fn),
            name=tool_name,
            title=title,
            description=description,
            annotations=annotations,
            icons=icons,
            meta=meta,
            structured_output=structured_output,
        )
        self.__scopes[tool_name] = required_scopes(fn)

    def remove_tool(self, name: str) -> None:
        super().remove_tool(name)
        self.__scopes.pop(name, None)

    def tool_scopes(self, name: str) -> tuple[str, ...]:
        """The scopes the tool ``name``'s ``@requires`` ask for (none for an unknown tool)."""
        return self.__scopes.get(name, ())


async def _principal_of_sdk_auth(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """Behind the SDK's own auth with :class:`AuthwardTokenVerifier` (not :func:`protect`,
    whose chain has set the principal already): the token's principal is the current one."""
    token = get_access_token()
    if current_principal() is None and isinstance(token, PrincipalAccessToken):
        with use_principal(token.principal):
            return await call_next(ctx)
    return await call_next(ctx)


class _PersonalInstructions:
    """An SDK server middleware: the ``initialize`` (and ``server/discover``) answer gets the
    instructions written for the caller, read from authward's context variable, which the SDK
    carries from the HTTP request into the session."""

    def __init__(self, write: Instructions) -> None:
        self._write = write

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method in _WITH_INSTRUCTIONS and isinstance(result, dict):
            result = {**result, "instructions": self._write(current_principal())}
        return result
