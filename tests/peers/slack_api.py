"""A local Slack Web API for the tests: Slack's wire format, every request recorded.

    peer = SlackPeer(tokens={"xoxb-...": "U_ALICE"})
    async with serve_asgi(peer.app) as url:
        slack = Slack(id="byo-slack", base_url=f"{url}/api/")
        ...
    peer.requests[0].authorization      # "Bearer xoxb-..."

Like Slack, it answers ``POST|GET /api/<method>`` with HTTP 200 and ``{"ok": true, ...}`` or
``{"ok": false, "error": "<code>"}``; the arguments may come in the query string, a form body or
a JSON body (slack_sdk uses all three). An unknown token gets ``invalid_auth``, none at all
``not_authed``, a revoked one ``token_revoked``. ``rate_limit_next`` / ``fail_next`` script the
next calls' answers (429 with ``Retry-After``, 500).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.peers.asgi import serve_asgi

TEAM_ID = "T0AUTHWARD"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    authorization: str | None
    content_type: str
    #: The arguments as sent: query string, then form or JSON body.
    query: dict[str, Any]
    body: dict[str, Any]

    @property
    def api_method(self) -> str:
        return self.path.removeprefix("/api/")

    @property
    def args(self) -> dict[str, Any]:
        return {**self.query, **self.body}


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class SlackPeer:
    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        #: token -> the Slack user id it belongs to
        self.tokens: dict[str, str] = dict(tokens or {})
        self.revoked: set[str] = set()
        self.missing_channels: set[str] = {"C_MISSING"}
        self.requests: list[Recorded] = []
        #: (channel, ts) -> message
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._script: list[Answer] = []
        self._ts = 0
        #: The Web API root while :meth:`serve` runs (``Slack(base_url=peer.api_url)``).
        self.api_url = ""
        self.app = Starlette(routes=[Route("/api/{method}", self._handle, methods=["GET", "POST"])])

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Serve on a free port; yields the Web API root (``Slack(base_url=...)``)."""
        async with serve_asgi(self.app) as url:
            self.api_url = f"{url}/api/"
            yield self.api_url

    # -- scripting ------------------------------------------------------------------------------

    def rate_limit_next(self, n: int, *, retry_after: int | str) -> None:
        for _ in range(n):
            self._script.append(
                Answer(
                    429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
                )
            )

    def fail_next(self, n: int, *, status: int = 500) -> None:
        for _ in range(n):
            self._script.append(Answer(status, {"ok": False, "error": "internal_error"}))

    def calls(self, api_method: str) -> list[Recorded]:
        return [r for r in self.requests if r.api_method == api_method]

    # -- the API --------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        query = dict(request.query_params)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        body: dict[str, Any] = {}
        if content_type == "application/json":
            raw = await request.body()
            body = json.loads(raw) if raw else {}
        elif content_type == "application/x-www-form-urlencoded":
            body = dict(parse_qsl((await request.body()).decode()))
        recorded = Recorded(
            method=request.method,
            path=request.url.path,
            authorization=request.headers.get("authorization"),
            content_type=content_type,
            query=query,
            body=body,
        )
        self.requests.append(recorded)
        if self._script:
            answer = self._script.pop(0)
            return JSONResponse(answer.body, answer.status, headers=answer.headers)
        auth = recorded.authorization or ""
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if token is None:
            return _error("not_authed")
        if token in self.revoked:
            return _error("token_revoked")
        user = self.tokens.get(token)
        if user is None:
            return _error("invalid_auth")
        handler = _METHODS.get(recorded.api_method)
        if handler is None:
            return _error("unknown_method")
        result = handler(self, user, recorded.args)
        return JSONResponse(result if "ok" in result else {"ok": True, **result})

    def _next_ts(self) -> str:
        self._ts += 1
        return f"1767603600.{self._ts:06d}"

    def _channel(self, args: dict[str, Any]) -> str | dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.missing_channels:
            return {"ok": False, "error": "channel_not_found"}
        return str(channel)

    def post_message(self, user: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if isinstance(channel, dict):
            return channel
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        message = {"type": "message", "user": user, "text": args.get("text", ""), "ts": ts}
        for name in ("blocks", "thread_ts", "team_id"):
            if name in args:
                message[name] = args[name]
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def update_message(self, user: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if isinstance(channel, dict):
            return channel
        message = self.messages.get((channel, str(args.get("ts"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if message["user"] != user:
            return {"ok": False, "error": "cant_update_message"}
        message["text"] = args.get("text", message["text"])
        return {"channel": channel, "ts": message["ts"], "text": message["text"]}

    def delete_message(self, user: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if isinstance(channel, dict):
            return channel
        if self.messages.pop((channel, str(args.get("ts"))), None) is None:
            return {"ok": False, "error": "message_not_found"}
        return {"channel": channel, "ts": args["ts"]}

    def post_ephemeral(self, user: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if isinstance(channel, dict):
            return channel
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"message_ts": self._next_ts()}

    def add_reaction(self, user: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if isinstance(channel, dict):
            return channel
        message = self.messages.get((channel, str(args.get("timestamp"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        reactions: list[dict[str, Any]] = message.setdefault("reactions", [])
        if any(r["name"] == args.get("name") and user in r["users"] for r in reactions):
            return {"ok": False, "error": "already_reacted"}
        reactions.append({"name": args.get("name"), "users": [user], "count": 1})
        return {}

    def users_info(self, user: str, args: dict[str, Any]) -> dict[str, Any]:
        wanted = args.get("user")
        if wanted not in self.tokens.values():
            return {"ok": False, "error": "user_not_found"}
        return {"user": {"id": wanted, "team_id": TEAM_ID, "name": str(wanted).lower()}}

    def conversations_list(self, user: str, args: dict[str, Any]) -> dict[str, Any]:
        channels = sorted({channel for channel, _ in self.messages} | {"C01234567"})
        return {
            "channels": [{"id": c, "name": c.lower(), "is_channel": True} for c in channels],
            "response_metadata": {"next_cursor": ""},
        }

    def auth_test(self, user: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://authward.slack.com/", "team_id": TEAM_ID, "user_id": user}


def _error(code: str) -> Response:
    return JSONResponse({"ok": False, "error": code})


_METHODS = {
    "chat.postMessage": SlackPeer.post_message,
    "chat.update": SlackPeer.update_message,
    "chat.delete": SlackPeer.delete_message,
    "chat.postEphemeral": SlackPeer.post_ephemeral,
    "reactions.add": SlackPeer.add_reaction,
    "users.info": SlackPeer.users_info,
    "conversations.list": SlackPeer.conversations_list,
    "auth.test": SlackPeer.auth_test,
}
