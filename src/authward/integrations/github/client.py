"""``Github``: GitHub's REST API through githubkit, with the credential of the run's account.

Every request is made by a fresh ``githubkit.GitHub(token, auto_retry=False, http_cache=False)``:
the job runtime's task retries (honouring ``Retry-After``) are the only retries, and no response
of one account is ever served from a cache to another.
"""

from __future__ import annotations

__all__ = ["DEFAULT_API_URL", "Github", "GithubCalls", "IssuesCalls"]

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx

try:  # the github extra; without it Github(...) fails naming it (IntegrationBase)
    from githubkit import GitHub
    from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed
    from githubkit.utils import UNSET
except ImportError:  # pragma: no cover - exercised by the wheel test's core-only install
    pass

from authward.connections.values import Credentials
from authward.integrations.base import Calls, IntegrationBase
from authward.integrations.errors import CredentialRejected, ProviderError
from authward.integrations.retry_after import retry_after_seconds

if TYPE_CHECKING:
    from authward.integrations.github.sources import GithubSources

DEFAULT_API_URL = "https://api.github.com"
T = TypeVar("T")
#: How much of GitHub's error message goes into ours.
_DETAIL_MAX = 300


def _detail(response: httpx.Response) -> str:
    """GitHub's own words for an error: ``message`` and the ``errors`` of a 422."""
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    if not isinstance(data, dict):
        return response.reason_phrase or "error"
    parts = [str(data.get("message") or response.reason_phrase or "error")]
    for error in data.get("errors") or ():
        if isinstance(error, dict):
            parts.append(
                str(
                    error.get("message")
                    or " ".join(str(error.get(k, "")) for k in ("field", "code"))
                )
            )
        elif isinstance(error, str):
            parts.append(error)
    detail = "; ".join(p.strip() for p in parts if p and p.strip())
    return detail[:_DETAIL_MAX]


async def _retry_after_in_seconds(response: httpx.Response) -> None:
    """Rewrite ``Retry-After`` as whole seconds before githubkit reads it: githubkit takes
    ``int()`` of it, which fails on the HTTP-date form RFC 9110 allows (and on fractions)."""
    value = response.headers.get("retry-after")
    if value is None or value.strip().isdigit():
        return
    seconds = retry_after_seconds(value)
    if seconds is None:
        del response.headers["retry-after"]  # unreadable: the task's retry policy decides
    else:
        response.headers["retry-after"] = str(math.ceil(seconds))


class Github(IntegrationBase):
    """``Github(id="github")``; ``io.github.issues.create_comment(key, ...)`` inside a run,
    ``github.sources.repo`` as a dynamic trigger's source (docs/dynamic-triggers.md).

    ``base_url``: GitHub Enterprise Server's API (``https://ghe.example.com/api/v3``), or a test
    peer; an auth resolver may also return ``additional_fields={"base_url": ...}``."""

    provider: ClassVar[str] = "github"
    sdk_modules: ClassVar[tuple[str, ...]] = ("githubkit", "hishel")
    extra: ClassVar[str | None] = "github"

    def __init__(
        self,
        *,
        id: str,
        token: str | None = None,
        connection: str | None = None,
        base_url: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        super().__init__(id=id, token=token, connection=connection, base_url=base_url)
        self.timeout_seconds = float(timeout_seconds)
        from authward.integrations.github.sources import GithubSources

        self.sources: GithubSources = GithubSources(self)

    def api_url(self, credentials: Credentials) -> str:
        return (
            credentials.additional_fields.get("base_url") or self.base_url or DEFAULT_API_URL
        ).rstrip("/")

    def client(self, credentials: Credentials) -> GitHub[Any]:
        return GitHub(
            credentials.token,
            base_url=self.api_url(credentials),
            auto_retry=False,
            http_cache=False,
            timeout=self.timeout_seconds,
            async_event_hooks={"response": [_retry_after_in_seconds]},
        )

    async def request(
        self,
        credentials: Credentials,
        operation: str,
        fn: Callable[[GitHub[Any]], Awaitable[T]],
    ) -> T:
        """``await fn(client)`` with GitHub's errors mapped as in a run (for use outside one)."""
        # githubkit's namespaces hold their client weakly: keep it alive for the whole call.
        client = self.client(credentials)
        try:
            return await fn(client)
        except Exception as exc:
            mapped = self.classify(exc, operation, credentials)
            if mapped is None:
                raise
            raise mapped from None

    def namespace(self, calls: Calls) -> GithubCalls:
        return GithubCalls(self, calls)

    def classify(
        self, exc: Exception, operation: str, credentials: Credentials
    ) -> Exception | None:
        if isinstance(exc, RequestFailed):
            response = exc.response.raw_response
            status = response.status_code
            detail = _detail(response)
            if status == 401:
                return CredentialRejected(
                    self.id, operation, f"HTTP 401: {detail}", account_id=credentials.account_id
                )
            if isinstance(exc, RateLimitExceeded):
                error = ProviderError(
                    self.id,
                    operation,
                    f"rate limited: {detail}",
                    status=status,
                    retry_after=exc.retry_after.total_seconds(),
                )
                error.retryable = True  # a 403 that is a rate limit is worth waiting for
                return error
            return ProviderError(self.id, operation, detail, status=status)
        if isinstance(exc, RequestError):
            cause = exc.exc
            what = type(cause).__name__
            if isinstance(cause, httpx.RequestError):
                what = f"{what} reaching {cause.request.url.host}"
            return ProviderError(self.id, operation, what, status=None)
        return None


class IssuesCalls:
    """``io.<github>.issues``."""

    def __init__(self, integration: Github, calls: Calls) -> None:
        self._integration = integration
        self._calls = calls

    async def create_comment(
        self, key: str, *, owner: str, repo: str, issue_number: int, body: str
    ) -> dict[str, Any]:
        """Comment on an issue or pull request; GitHub's JSON for the new comment."""

        async def call(credentials: Credentials) -> dict[str, Any]:
            client = self._integration.client(credentials)
            response = await client.rest.issues.async_create_comment(
                owner, repo, issue_number, data={"body": body}
            )
            return dict(response.json())

        result: dict[str, Any] = await self._calls.call(key, "issues.create_comment", call)
        return result

    async def create(
        self,
        key: str,
        *,
        owner: str,
        repo: str,
        title: str,
        body: str | None = None,
        labels: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Open an issue; GitHub's JSON for it."""
        label_list = list(labels) if labels is not None else UNSET

        async def call(credentials: Credentials) -> dict[str, Any]:
            client = self._integration.client(credentials)
            response = await client.rest.issues.async_create(
                owner,
                repo,
                title=title,
                body=body if body is not None else UNSET,
                labels=label_list,
            )
            return dict(response.json())

        result: dict[str, Any] = await self._calls.call(key, "issues.create", call)
        return result


class GithubCalls:
    """What ``io.<name>`` is for a ``Github`` integration inside a run."""

    def __init__(self, integration: Github, calls: Calls) -> None:
        self._integration = integration
        self._calls = calls
        self.issues = IssuesCalls(integration, calls)

    async def run_task(
        self, key: str, operation: str, fn: Callable[[GitHub[Any]], Awaitable[Any]]
    ) -> Any:
        """Any other githubkit call as a task: ``await fn(client)`` with the run's credential;
        return JSON (``response.json()``)."""

        async def call(credentials: Credentials) -> Any:
            client = self._integration.client(credentials)  # held: githubkit refers to it weakly
            return await fn(client)

        return await self._calls.call(key, operation, call)
