"""GitHub webhook events a dynamic trigger can listen to.

An event is the webhook's event name (the ``X-GitHub-Event`` header, what the repository webhook
subscribes to) and, for most, the payload's ``action``. A run started by one receives GitHub's
JSON payload as a dict, exactly as delivered (``payload["repository"]["owner"]["login"]``);
``event.parse(payload)`` gives githubkit's typed model of it for those who want one.
"""

from __future__ import annotations

__all__ = [
    "GithubEvent",
    "on_issue",
    "on_issue_closed",
    "on_issue_comment",
    "on_issue_comment_created",
    "on_issue_opened",
    "on_pull_request",
    "on_pull_request_closed",
    "on_pull_request_opened",
    "on_push",
    "on_release_published",
    "on_star",
]

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GithubEvent:
    #: The ``X-GitHub-Event`` name (``issues``, ``issue_comment``, ``pull_request``, ``push``).
    name: str
    #: The payload's ``action`` this event is (None: every action, or an event without one).
    action: str | None = None
    title: str = ""

    @property
    def provider(self) -> str:
        return "github"

    def matches(self, event: str, payload: Any) -> bool:
        if event != self.name:
            return False
        return self.action is None or (
            isinstance(payload, dict) and payload.get("action") == self.action
        )

    def describe(self) -> str:
        return f"github {self.name}.{self.action}" if self.action else f"github {self.name}"

    def parse(self, payload: dict[str, Any]) -> Any:
        """githubkit's typed model of a delivered payload (``WebhookIssuesOpened``, ...).

        Not done for every run: githubkit's models require every field GitHub documents, and
        importing them costs seconds; a payload GitHub changed would fail a run that only reads
        three fields of it."""
        from githubkit import webhooks

        return webhooks.parse_obj(self.name, payload)


on_issue = GithubEvent("issues", None, "Any issue event")
on_issue_opened = GithubEvent("issues", "opened", "Issue opened")
on_issue_closed = GithubEvent("issues", "closed", "Issue closed")
on_issue_comment = GithubEvent("issue_comment", None, "Any issue comment event")
on_issue_comment_created = GithubEvent("issue_comment", "created", "Issue comment created")
on_pull_request = GithubEvent("pull_request", None, "Any pull request event")
on_pull_request_opened = GithubEvent("pull_request", "opened", "Pull request opened")
on_pull_request_closed = GithubEvent("pull_request", "closed", "Pull request closed")
on_push = GithubEvent("push", None, "Push")
on_release_published = GithubEvent("release", "published", "Release published")
on_star = GithubEvent("star", "created", "Repository starred")
