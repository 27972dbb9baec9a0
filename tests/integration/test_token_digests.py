"""Caches of verified credentials keep their digests, never the credentials (decision 044).

Every kind of token is verified through every path that caches it (the middleware's entry and its
hot path, ``aw.verify_access_token``, the session, API-key and M2M verifiers), twice, the second
time from memory. Then every object reachable from the runtime and the entry is walked: no string
or bytes among them holds any of those tokens, while each token's digest is there (so the walk
does reach the caches, and the test could fail).
"""

from __future__ import annotations

import contextlib
import gc
import types
from collections.abc import Iterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward.channel import AuthMiddleware
from authward.principal import current_principal
from authward.runtime import Authward
from authward.tokens import opaque
from authward.tokens.verifier import token_digest
from tests.integration.test_api_keys import statements

_SKIP = (types.ModuleType, type, types.FrameType, types.CodeType)


def _texts(*roots: object) -> Iterator[str | bytes]:
    """Every str and bytes reachable from ``roots``, through containers, instances, closures
    and bound methods, but not through modules, classes, frames or a function's globals (they
    reach the test itself, which holds the tokens)."""
    seen: set[int] = set()
    stack: list[Any] = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SKIP):
            continue
        seen.add(id(obj))
        if isinstance(obj, str | bytes | bytearray):
            yield bytes(obj) if isinstance(obj, bytearray) else obj
        elif isinstance(obj, types.FunctionType):
            for cell in obj.__closure__ or ():
                with contextlib.suppress(ValueError):  # an empty cell
                    stack.append(cell.cell_contents)
            stack.extend(obj.__defaults__ or ())
            stack.extend((obj.__kwdefaults__ or {}).values())
        else:
            stack.extend(gc.get_referents(obj))


def _holds(texts: list[str | bytes], needle: str | bytes) -> bool:
    """Whether some text holds ``needle``: a str as text or as its UTF-8 bytes."""
    if isinstance(needle, bytes):
        return any(isinstance(t, bytes) and needle in t for t in texts)
    encoded = needle.encode()
    return any((needle in t) if isinstance(t, str) else (encoded in t) for t in texts)


async def whoami(request: Request) -> JSONResponse:
    principal = current_principal()
    assert principal is not None
    return JSONResponse({"subject": principal.subject})


async def test_no_cache_keeps_a_token_only_its_digest(sqlite_runtime: Authward) -> None:
    aw = sqlite_runtime
    machine_secret, _ = await aw.machines.create("billing")
    m2m, _ = await aw.m2m_tokens.create("readonly-machine-user", ["billing"])
    api_key, _ = await aw.api_keys.create("k", user_id="user-1")
    session_secret, _ = await aw.sessions.create("user-1")
    session = await aw.sessions.mint_token(session_secret)
    access = await aw.machine_user_token("admin-machine-user")
    direct = await aw.machine_user_token("admin-machine-user")

    entry = aw.tokens_entry(
        accepts_token=["oauth_token", "session_token", "api_key", "m2m_token"],
        machine_secret_key=machine_secret,
    )
    app = AuthMiddleware(Starlette(routes=[Route("/", whoami)]), auth=[entry])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for token in (access, session, api_key, m2m):
            for _ in range(2):
                response = await client.get("/", headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200, response.text
        with statements(aw) as seen:  # the second time round, everything came from memory
            for token in (access, session, api_key, m2m):
                response = await client.get("/", headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200
        assert seen == []
    for _ in range(2):
        assert (await aw.verify_access_token(direct)).subject
        assert (await aw.sessions.verify_token(session)).user_id == "user-1"

    texts = list(_texts(aw, entry, app))
    for token in (access, direct, session):
        assert not _holds(texts, token)
        assert _holds(texts, token_digest(token.encode()))
    for secret in (api_key, m2m):
        assert not _holds(texts, secret)
        assert _holds(texts, opaque.digest(secret))
    # The entry holds the machine secret key it was given (configuration); the machines' cache
    # keeps only its digest.
    machines = list(_texts(aw.machines))
    assert not _holds(machines, machine_secret)
    assert _holds(machines, opaque.digest(machine_secret))
