"""A local GitHub REST API for the integration tests: issues, comments and repository webhooks,
in GitHub's wire format (paths, status codes, error bodies, rate-limit headers), and webhook
deliveries signed and posted as GitHub's hookshot does.

    peer = GithubPeer(tokens={"gho_alice": "alice"})
    async with serve_asgi(peer.app()) as api_url:
        github = Github(id="github", base_url=api_url)
        ...
        await peer.deliver(hook, "issues", peer.issue_opened_payload(...))

Every request is recorded (method, path, the Authorization header, the JSON body), so a test
can check which credential each call carried. ``peer.fail(...)`` queues error answers.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DOCS = "https://docs.github.com/rest"


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class Hook:
    id: int
    owner: str
    repo: str
    config: dict[str, Any]
    events: list[str]
    active: bool
    created_by: str

    @property
    def url(self) -> str:
        return str(self.config["url"])

    @property
    def secret(self) -> str:
        return str(self.config["secret"])


@dataclass
class Failure:
    path_part: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _user(login: str, user_id: int) -> dict[str, Any]:
    api = f"https://api.github.com/users/{login}"
    return {
        "login": login,
        "id": user_id,
        "node_id": f"U_{user_id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"https://github.com/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": "User",
        "site_admin": False,
    }


def _repository(owner: str, repo: str, repo_id: int) -> dict[str, Any]:
    api = f"https://api.github.com/repos/{owner}/{repo}"
    return {
        "id": repo_id,
        "node_id": f"R_{repo_id}",
        "name": repo,
        "full_name": f"{owner}/{repo}",
        "private": False,
        "owner": _user(owner, 1000 + repo_id),
        "html_url": f"https://github.com/{owner}/{repo}",
        "description": None,
        "fork": False,
        "url": api,
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues{{/number}}",
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-01T10:00:00Z",
        "pushed_at": "2026-11-01T10:00:00Z",
        "default_branch": "main",
        "open_issues_count": 1,
        "visibility": "public",
    }


class GithubPeer:
    def __init__(self, tokens: dict[str, str]) -> None:
        #: Valid tokens and the login each belongs to; any other token is "Bad credentials".
        self.tokens = dict(tokens)
        self.requests: list[Recorded] = []
        self.hooks: dict[int, Hook] = {}
        #: Every hook ever created, deleted ones included (what configs GitHub was given).
        self.created_hooks: list[Hook] = []
        self.comments: list[dict[str, Any]] = []
        self.failures: list[Failure] = []
        self._ids = itertools.count(1)

    # -- what tests set up ------------------------------------------------------------------

    def fail(
        self,
        path_part: str,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        """Answer the next request whose path contains ``path_part`` with this error."""
        body: dict[str, Any] = {
            "message": message,
            "documentation_url": DOCS,
            "status": str(status),
        }
        if errors is not None:
            body["errors"] = errors
        self.failures.append(Failure(path_part, status, body, headers or {}))

    def calls(self, path_part: str, method: str = "POST") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    # -- the API ----------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/repos/{owner}/{repo}/issues/{number:int}/comments",
                    self._create_comment,
                    methods=["POST"],
                ),
                Route("/repos/{owner}/{repo}/issues", self._create_issue, methods=["POST"]),
                Route(
                    "/repos/{owner}/{repo}/hooks",
                    self._hooks,
                    methods=["GET", "POST"],
                ),
                Route(
                    "/repos/{owner}/{repo}/hooks/{hook_id:int}",
                    self._delete_hook,
                    methods=["DELETE"],
                ),
            ]
        )

    async def _begin(self, request: Request) -> tuple[str | None, Response | None]:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        authorization = request.headers.get("authorization")
        self.requests.append(Recorded(request.method, request.url.path, authorization, body))
        for failure in self.failures:
            if failure.path_part in request.url.path:
                self.failures.remove(failure)
                return None, JSONResponse(
                    failure.body, status_code=failure.status, headers=failure.headers
                )
        scheme, _, token = (authorization or "").partition(" ")
        login = self.tokens.get(token) if scheme.lower() in ("token", "bearer") else None
        if login is None:
            return None, JSONResponse(
                {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"},
                status_code=401,
            )
        return login, None

    async def _create_comment(self, request: Request) -> Response:
        login, refused = await self._begin(request)
        if refused is not None or login is None:
            return refused or Response(status_code=500)
        p = request.path_params
        body = self.requests[-1].body
        comment_id = next(self._ids)
        api = f"https://api.github.com/repos/{p['owner']}/{p['repo']}"
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{api}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{p['owner']}/{p['repo']}/issues/{p['number']}"
            f"#issuecomment-{comment_id}",
            "issue_url": f"{api}/issues/{p['number']}",
            "body": body["body"],
            "user": _user(login, 7),
            "created_at": "2026-12-03T12:00:00Z",
            "updated_at": "2026-12-03T12:00:00Z",
            "author_association": "OWNER",
        }
        self.comments.append(
            {"owner": p["owner"], "repo": p["repo"], "number": p["number"], **comment}
        )
        return JSONResponse(comment, status_code=201)

    async def _create_issue(self, request: Request) -> Response:
        login, refused = await self._begin(request)
        if refused is not None or login is None:
            return refused or Response(status_code=500)
        p = request.path_params
        body = self.requests[-1].body
        if not body or not body.get("title"):
            return JSONResponse(
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
                    "documentation_url": DOCS,
                    "status": "422",
                },
                status_code=422,
            )
        number = next(self._ids)
        return JSONResponse(
            self.issue(p["owner"], p["repo"], number, body["title"], body.get("body"), login)
            | {"labels": [{"name": name} for name in body.get("labels", [])]},
            status_code=201,
        )

    async def _hooks(self, request: Request) -> Response:
        login, refused = await self._begin(request)
        if refused is not None or login is None:
            return refused or Response(status_code=500)
        p = request.path_params
        if request.method == "GET":
            return JSONResponse(
                [
                    self._hook_json(h)
                    for h in self.hooks.values()
                    if (h.owner, h.repo) == (p["owner"], p["repo"])
                ]
            )
        body = self.requests[-1].body
        config = dict(body["config"])
        hook = Hook(
            id=next(self._ids) + 400000000,
            owner=p["owner"],
            repo=p["repo"],
            config=config,
            events=list(body.get("events") or ["push"]),
            active=bool(body.get("active", True)),
            created_by=login,
        )
        self.hooks[hook.id] = hook
        self.created_hooks.append(hook)
        return JSONResponse(self._hook_json(hook), status_code=201)

    async def _delete_hook(self, request: Request) -> Response:
        _, refused = await self._begin(request)
        if refused is not None:
            return refused
        hook = self.hooks.get(request.path_params["hook_id"])
        if hook is None:
            return JSONResponse(
                {"message": "Not Found", "documentation_url": DOCS, "status": "404"},
                status_code=404,
            )
        del self.hooks[hook.id]
        return Response(status_code=204)

    @staticmethod
    def _hook_json(hook: Hook) -> dict[str, Any]:
        api = f"https://api.github.com/repos/{hook.owner}/{hook.repo}/hooks/{hook.id}"
        # GitHub never echoes a hook's secret back.
        config = {k: ("********" if k == "secret" else v) for k, v in hook.config.items()}
        return {
            "type": "Repository",
            "id": hook.id,
            "name": "web",
            "active": hook.active,
            "events": hook.events,
            "config": config,
            "updated_at": "2026-12-03T12:00:00Z",
            "created_at": "2026-12-03T12:00:00Z",
            "url": api,
            "test_url": f"{api}/test",
            "ping_url": f"{api}/pings",
            "deliveries_url": f"{api}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        }

    # -- payloads and deliveries ------------------------------------------------------------

    @staticmethod
    def issue(
        owner: str, repo: str, number: int, title: str, body: str | None, login: str = "octocat"
    ) -> dict[str, Any]:
        api = f"https://api.github.com/repos/{owner}/{repo}"
        return {
            "url": f"{api}/issues/{number}",
            "repository_url": api,
            "comments_url": f"{api}/issues/{number}/comments",
            "html_url": f"https://github.com/{owner}/{repo}/issues/{number}",
            "id": 900000 + number,
            "node_id": f"I_{number}",
            "number": number,
            "title": title,
            "user": _user(login, 7),
            "labels": [],
            "state": "open",
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": 0,
            "created_at": "2026-12-03T12:00:00Z",
            "updated_at": "2026-12-03T12:00:00Z",
            "closed_at": None,
            "author_association": "OWNER",
            "active_lock_reason": None,
            "body": body,
        }

    def issue_opened_payload(
        self, owner: str, repo: str, number: int, title: str = "Spelling error in the README"
    ) -> dict[str, Any]:
        return {
            "action": "opened",
            "issue": self.issue(owner, repo, number, title, "It says 'comitt'."),
            "repository": _repository(owner, repo, 186853002),
            "sender": _user("octocat", 7),
        }

    @staticmethod
    def sign(secret: str, body: bytes) -> dict[str, str]:
        return {
            "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": "sha256="
            + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        }

    async def deliver(
        self,
        hook: Hook,
        event: str,
        payload: dict[str, Any],
        *,
        delivery_id: str | None = None,
        secret: str | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        """POST ``payload`` to the hook's URL as GitHub's hookshot does (``secret`` overrides
        the hook's, to forge a signature)."""
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": str(hook.id),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": "186853002",
        }
        if signed:
            headers |= self.sign(secret if secret is not None else hook.secret, body)
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.post(hook.url, content=body, headers=headers)
