"""``github.sources.repo``: repository webhooks as the source of a dynamic trigger.

A registration's params are ``{"owner": ..., "repo": ...}``. The webhook is created with the
credential of the registration's account (``write:repo_hook``/``admin:repo_hook`` scope, or a
fine-grained token with "Webhooks: write"), content type JSON, the registration's own secret and
the trigger's event. GitHub signs each delivery with that secret: ``X-Hub-Signature-256:
sha256=<HMAC-SHA256 of the body, hex>``, checked here in constant time.
"""

from __future__ import annotations

__all__ = ["GithubSources", "RepoWebhookSource"]

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from authward.connections.values import Credentials
from authward.errors import ConfigError
from authward.integrations.errors import ProviderError
from authward.jobs.dynamic_trigger import Delivery

if TYPE_CHECKING:
    from authward.integrations.github.client import Github

#: GitHub's rules for user/organization and repository names, generously.
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")


class RepoWebhookSource:
    """Webhooks on one repository, created and deleted with the registration's credential."""

    def __init__(self, integration: Github) -> None:
        self._integration = integration

    @property
    def integration(self) -> Github:
        return self._integration

    @property
    def name(self) -> str:
        return f"{self._integration.id}.repo"

    def __repr__(self) -> str:
        return f"<github repo webhooks of {self._integration!r}>"

    def check_params(self, params: object) -> dict[str, Any]:
        if not isinstance(params, Mapping):
            raise ConfigError('must be a mapping {"owner": ..., "repo": ...}', "params")
        unknown = sorted(set(params) - {"owner", "repo"})
        if unknown:
            raise ConfigError("unknown field (known: owner, repo)", f"params.{unknown[0]}")
        owner, repo = params.get("owner"), params.get("repo")
        if not isinstance(owner, str) or not _OWNER.match(owner):
            raise ConfigError("must be a GitHub user or organization name", "params.owner")
        if not isinstance(repo, str) or not _REPO.match(repo) or repo in (".", ".."):
            raise ConfigError("must be a GitHub repository name", "params.repo")
        return {"owner": owner, "repo": repo}

    async def create(
        self,
        credentials: Credentials,
        *,
        params: Mapping[str, Any],
        url: str,
        secret: str,
        events: Sequence[str],
    ) -> str:
        owner, repo = params["owner"], params["repo"]
        response = await self._integration.request(
            credentials,
            "repos.create_webhook",
            lambda gh: gh.rest.repos.async_create_webhook(
                owner,
                repo,
                name="web",
                active=True,
                events=list(events),
                config={"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
            ),
        )
        return str(response.json()["id"])

    async def delete(
        self, credentials: Credentials, *, params: Mapping[str, Any], external_id: str
    ) -> None:
        owner, repo = params["owner"], params["repo"]
        try:
            await self._integration.request(
                credentials,
                "repos.delete_webhook",
                lambda gh: gh.rest.repos.async_delete_webhook(owner, repo, int(external_id)),
            )
        except ProviderError as exc:
            if exc.status != 404:  # already gone: deleted by hand, or the repository
                raise

    def verify(self, headers: Mapping[str, str], body: bytes, secret: bytes) -> bool:
        match = _SIGNATURE.match(headers.get("x-hub-signature-256", ""))
        if match is None:
            return False
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, match.group(1).lower())

    def delivery(self, headers: Mapping[str, str]) -> Delivery | None:
        delivery_id = headers.get("x-github-delivery", "")
        event = headers.get("x-github-event", "")
        if not (0 < len(delivery_id) <= 200) or not (0 < len(event) <= 200):
            return None
        return Delivery(delivery_id, event)


class GithubSources:
    """``github.sources``: where a dynamic trigger's GitHub webhooks live."""

    def __init__(self, integration: Github) -> None:
        self.repo = RepoWebhookSource(integration)
