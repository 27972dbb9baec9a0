"""Reading the acting principal, and carrying it into threads and deferred callables.

asyncio tasks need nothing: a task starts with a copy of its creator's context, so the principal
set with ``use_principal()`` is already there. Threads start with an empty context, so work handed
to a pool goes through ``run_in_thread`` or ``submit``, which run it in a copy of the caller's.
A callable kept for later (a callback, a subagent run) is bound with ``with_principal``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, ParamSpec, TypeVar, cast

from authward.errors import UnauthenticatedError
from authward.principal import Principal, current_principal, use_principal

P = ParamSpec("P")
R = TypeVar("R")

UNAUTHENTICATED = "unauthenticated"


def current_auth() -> Principal:
    """The principal the current task acts as; ``UnauthenticatedError`` when there is none."""
    principal = current_principal()
    if principal is None:
        raise UnauthenticatedError(
            code=UNAUTHENTICATED,
            message="no principal is authenticated here (set one with use_principal() "
            "or serve this behind the auth chain)",
        )
    return principal


def optional_auth() -> Principal | None:
    """The principal the current task acts as, or ``None`` when nobody is authenticated."""
    return current_principal()


async def run_in_thread(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``fn`` in the loop's default thread pool, seeing the caller's principal."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(None, call)


def submit(
    executor: Executor, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> Future[R]:
    """``executor.submit(fn, ...)``, with ``fn`` running in a copy of the caller's context.

    Thread pools only: a context cannot cross into another process, so a process pool is refused.
    """
    if isinstance(executor, ProcessPoolExecutor):
        raise TypeError(
            "submit() carries the principal into threads only; a process pool cannot receive it "
            "(pass what the job needs explicitly)"
        )
    ctx = contextvars.copy_context()
    return executor.submit(functools.partial(ctx.run, fn, *args, **kwargs))


def with_principal(fn: Callable[P, R]) -> Callable[P, R]:
    """Bind the current principal (possibly ``None``) into ``fn``, to be called later.

    Wherever and whenever the result is called, ``fn`` runs as the principal captured now, not
    as whoever is current at call time. Coroutine functions are bound for the whole coroutine.
    """
    principal = current_principal()

    if inspect.iscoroutinefunction(fn):
        async_fn = cast(Callable[..., Awaitable[Any]], fn)

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with use_principal(principal):
                return await async_fn(*args, **kwargs)

        return cast(Callable[P, R], run_async)

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with use_principal(principal):
            return fn(*args, **kwargs)

    return run
