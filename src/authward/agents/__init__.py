"""Auth for agents: read the principal in instructions and tools, authorize tool calls, and carry
the principal into the tasks, threads and deferred calls an agent starts.

    current_auth()          the acting principal; raises UnauthenticatedError when there is none
    optional_auth()         the acting principal or None
    @requires(...)          authorize a sync or async tool: permission, scope, role,
                            principal_type, attribute; raises Forbidden naming what is missing
    required_scopes(fn)     the scopes fn's @requires need (to ask for them before the call)
    run_in_thread(fn, ...)  await fn in the default thread pool, as the current principal
    submit(executor, fn)    executor.submit, as the current principal (thread pools)
    with_principal(fn)      bind the current principal into fn, to be called later
    describe_principal(p)   one deterministic paragraph for agent instructions, without secrets

asyncio tasks need none of this: they start with a copy of their creator's context.
"""

from __future__ import annotations

from authward.agents._context import (
    current_auth,
    optional_auth,
    run_in_thread,
    submit,
    with_principal,
)
from authward.agents._describe import describe_principal
from authward.agents._requires import ToolDecorator, required_scopes, requires
from authward.errors import Forbidden, UnauthenticatedError

__all__ = [
    "Forbidden",
    "ToolDecorator",
    "UnauthenticatedError",
    "current_auth",
    "describe_principal",
    "optional_auth",
    "required_scopes",
    "requires",
    "run_in_thread",
    "submit",
    "with_principal",
]
