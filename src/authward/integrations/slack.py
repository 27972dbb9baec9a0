"""Slack on slack_sdk's ``AsyncWebClient``: every call a task, made with the run's credential.

    byo_slack = Slack(id="byo-slack")                      # credentials from an auth resolver
    our_slack = Slack(id="our-slack", token=SLACK_BOT_TOKEN)  # the developer's own

    @client.job(..., integrations={"slack": byo_slack})
    async def run(payload, io, ctx):
        await io.slack.post_message("💬", channel=payload.channel, text=payload.text)

See docs/integrations-slack.md for the calls and how Slack's answers map to errors.
"""

from __future__ import annotations

__all__ = ["SLACK_API_URL", "Slack", "SlackCalls"]

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

try:  # the slack extra; without it Slack(...) fails naming it (IntegrationBase)
    import aiohttp
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_sdk.web.async_slack_response import AsyncSlackResponse
except ImportError:  # pragma: no cover - exercised by the wheel test's core-only install
    pass

from authward.connections.values import Credentials
from authward.integrations.base import Calls, IntegrationBase
from authward.integrations.errors import CredentialRejected, IntegrationError, ProviderError
from authward.integrations.retry_after import retry_after_seconds

SLACK_API_URL = "https://slack.com/api/"
#: Where a resolver's ``additional_fields["base_url"]`` may send a token: Slack's own hosts
#: (commercial and GovSlack) and the integration's own ``base_url``. Anything else would let
#: whatever feeds the resolver (a user-editable profile, say) send the user's token elsewhere.
SLACK_HOSTS = ("https://slack.com/api/", "https://slack-gov.com/api/")

#: Slack's error codes that mean "this token is no good": the account must reconnect.
_REJECTED = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
#: Answered with HTTP 200 but documented by Slack as transient: worth another attempt.
_TRANSIENT = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
#: A Web API method name ("chat.postMessage"). Checked because slack_sdk joins it onto the base
#: URL with urljoin, where "https://elsewhere/x" or "../x" would carry the token off.
_METHOD = re.compile(r"^[A-Za-z]+(?:\.[A-Za-z]+)+$")

Blocks = Sequence[Mapping[str, Any]]


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "[redacted]") if token else text


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    return retry_after_seconds(value) if isinstance(value, str) else None


def _describe(data: Mapping[str, Any], code: str) -> str:
    """Slack's error code plus what Slack says about it (missing scopes, invalid arguments)."""
    parts = [f"Slack error {code!r}"]
    if data.get("needed"):
        parts.append(f"needed scope {data['needed']!r}")
    metadata = data.get("response_metadata")
    if isinstance(metadata, Mapping):
        messages = metadata.get("messages")
        if isinstance(messages, list) and messages:
            parts.append("; ".join(str(m) for m in messages[:3]))
    return ", ".join(parts)


class Slack(IntegrationBase):
    """A Slack workspace connection; ``base_url`` is the Web API root (``https://slack.com/api/``
    by default, a local peer in tests)."""

    provider: ClassVar[str] = "slack"
    sdk_modules: ClassVar[tuple[str, ...]] = ("slack_sdk", "aiohttp")
    extra: ClassVar[str | None] = "slack"

    def namespace(self, calls: Calls) -> SlackCalls:
        return SlackCalls(self, calls)

    def api_url(self, credentials: Credentials) -> str:
        """Where this call goes: the integration's ``base_url``, or one of Slack's own hosts
        chosen by the resolver's ``additional_fields["base_url"]``."""
        own = _with_slash(self.base_url or SLACK_API_URL)
        chosen = credentials.additional_fields.get("base_url")
        if chosen is None:
            return own
        chosen = _with_slash(chosen)
        if chosen != own and chosen not in SLACK_HOSTS:
            raise IntegrationError(
                f"{self.id}: the auth resolver's additional_fields['base_url'] {chosen!r} is "
                f"not a Slack API host ({', '.join(SLACK_HOSTS)}) nor this integration's "
                "base_url; set Slack(base_url=...) to call another server"
            )
        return chosen

    def client(self, credentials: Credentials) -> AsyncWebClient:
        """slack_sdk's client for one call. ``retry_handlers=[]``: the task's retries (which
        free the worker and survive a restart) are the only ones."""
        return AsyncWebClient(
            token=credentials.token,
            base_url=self.api_url(credentials),
            team_id=credentials.additional_fields.get("team_id"),
            retry_handlers=[],
        )

    def classify(
        self, exc: Exception, operation: str, credentials: Credentials
    ) -> Exception | None:
        token = credentials.token
        if isinstance(exc, SlackApiError):
            response = exc.response
            status = getattr(response, "status_code", None) or getattr(response, "status", None)
            raw = getattr(response, "data", None)
            data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
            code = _scrub(str(data.get("error") or ""), token)
            headers = getattr(response, "headers", None)
            if status == 429 or code == "ratelimited":
                return ProviderError(
                    self.id,
                    operation,
                    f"Slack rate limited the call ({code or 'ratelimited'})",
                    status=429,
                    retry_after=_retry_after(headers),
                )
            if isinstance(status, int) and status >= 500:
                what = f"Slack error {code!r}" if code else "Slack is unavailable"
                return ProviderError(self.id, operation, what, status=status)
            if code in _REJECTED or (status == 401 and not code):
                return CredentialRejected(
                    self.id, operation, code or "HTTP 401", account_id=credentials.account_id
                )
            if not code:
                return ProviderError(
                    self.id,
                    operation,
                    "Slack answered without an error code",
                    status=status if isinstance(status, int) else None,
                )
            error = ProviderError(
                self.id,
                operation,
                _scrub(_describe(data, code), token),
                status=status if isinstance(status, int) else None,
            )
            error.retryable = code in _TRANSIENT
            return error
        if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError):
            detail = _scrub(f"{type(exc).__name__}: {exc}".rstrip(": "), token)
            return ProviderError(self.id, operation, detail)
        return None


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _check_extra(call: str, extra: Mapping[str, Any]) -> None:
    if "token" in extra:
        # slack_sdk would send a ``token`` argument instead of the run's credential.
        raise ValueError(
            f"{call}: do not pass token=; the credential comes from the integration's auth "
            "resolver, its token= or the developer's connection"
        )


class SlackCalls:
    """``io.<name>`` for a Slack integration inside a run. Each method's first argument is the
    task key; it returns Slack's JSON answer (``{"ok": true, ...}``), stored with the task."""

    def __init__(self, integration: Slack, calls: Calls) -> None:
        self._integration = integration
        self._calls = calls

    async def _call(
        self,
        key: str,
        method: str,
        send: Callable[[AsyncWebClient], Awaitable[AsyncSlackResponse]],
    ) -> dict[str, Any]:
        integration = self._integration

        async def request(credentials: Credentials) -> dict[str, Any]:
            response = await send(integration.client(credentials))
            data = response.data
            return dict(data) if isinstance(data, Mapping) else {"ok": True}

        result: dict[str, Any] = await self._calls.call(key, method, request)
        return result

    async def post_message(
        self,
        key: str,
        *,
        channel: str,
        text: str | None = None,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """``chat.postMessage`` (the seed's ``io.slack.postMessage``)."""
        _check_extra("post_message", extra)
        return await self._call(
            key,
            "chat.postMessage",
            lambda c: c.chat_postMessage(
                channel=channel, text=text, blocks=_blocks(blocks), thread_ts=thread_ts, **extra
            ),
        )

    async def update_message(
        self,
        key: str,
        *,
        channel: str,
        ts: str,
        text: str | None = None,
        blocks: Blocks | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """``chat.update``: edit the message ``ts`` in ``channel``."""
        _check_extra("update_message", extra)
        return await self._call(
            key,
            "chat.update",
            lambda c: c.chat_update(
                channel=channel, ts=ts, text=text, blocks=_blocks(blocks), **extra
            ),
        )

    async def delete_message(self, key: str, *, channel: str, ts: str) -> dict[str, Any]:
        """``chat.delete``."""
        return await self._call(key, "chat.delete", lambda c: c.chat_delete(channel=channel, ts=ts))

    async def post_ephemeral(
        self,
        key: str,
        *,
        channel: str,
        user: str,
        text: str | None = None,
        blocks: Blocks | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """``chat.postEphemeral``: a message only ``user`` sees."""
        _check_extra("post_ephemeral", extra)
        return await self._call(
            key,
            "chat.postEphemeral",
            lambda c: c.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=_blocks(blocks), **extra
            ),
        )

    async def add_reaction(
        self, key: str, *, channel: str, timestamp: str, name: str
    ) -> dict[str, Any]:
        """``reactions.add``: ``name`` is the emoji without colons (``"thumbsup"``)."""
        return await self._call(
            key,
            "reactions.add",
            lambda c: c.reactions_add(channel=channel, timestamp=timestamp, name=name),
        )

    async def users_info(self, key: str, *, user: str) -> dict[str, Any]:
        """``users.info``."""
        return await self._call(key, "users.info", lambda c: c.users_info(user=user))

    async def users_lookup_by_email(self, key: str, *, email: str) -> dict[str, Any]:
        """``users.lookupByEmail``."""
        return await self._call(
            key, "users.lookupByEmail", lambda c: c.users_lookupByEmail(email=email)
        )

    async def conversations_list(
        self,
        key: str,
        *,
        types: Sequence[str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        exclude_archived: bool | None = None,
    ) -> dict[str, Any]:
        """``conversations.list``: one page; the next page's cursor is in
        ``result["response_metadata"]["next_cursor"]`` (a new task key per page)."""
        return await self._call(
            key,
            "conversations.list",
            lambda c: c.conversations_list(
                types=list(types) if types is not None else None,
                limit=limit,
                cursor=cursor,
                exclude_archived=exclude_archived,
            ),
        )

    async def conversations_info(self, key: str, *, channel: str) -> dict[str, Any]:
        """``conversations.info``."""
        return await self._call(
            key, "conversations.info", lambda c: c.conversations_info(channel=channel)
        )

    async def auth_test(self, key: str) -> dict[str, Any]:
        """``auth.test``: which user, bot and workspace the run's credential belongs to."""
        return await self._call(key, "auth.test", lambda c: c.auth_test())

    async def api_call(
        self,
        key: str,
        method: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        http_verb: Literal["GET", "POST"] = "POST",
    ) -> dict[str, Any]:
        """Any other Web API method: ``api_call(key, "pins.add", params={...})``."""
        if not isinstance(method, str) or not _METHOD.match(method):
            raise ValueError(f"api_call: {method!r} is not a Slack Web API method name")
        _check_extra("api_call", params or {})
        _check_extra("api_call", json or {})
        return await self._call(
            key,
            method,
            lambda c: c.api_call(
                method,
                http_verb=http_verb,
                params=dict(params) if params is not None else None,
                json=dict(json) if json is not None else None,
            ),
        )


def _blocks(blocks: Blocks | None) -> list[dict[str, Any]] | None:
    return [dict(b) for b in blocks] if blocks is not None else None
