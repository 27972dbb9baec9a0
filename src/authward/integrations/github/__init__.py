"""GitHub on githubkit: issue calls inside runs, repository webhooks for dynamic triggers.

    from authward.integrations.github import Github, events

    github = Github(id="github")
    on_issue_opened = client.define_dynamic_trigger(
        id="github-issue-opened", event=events.on_issue_opened, source=github.sources.repo)

    @client.job(id="listen-for-dynamic-trigger", ..., trigger=on_issue_opened,
                integrations={"github": github})
    async def listen(payload, io, ctx):
        await io.github.issues.create_comment(
            "create-issue-comment", owner=payload["repository"]["owner"]["login"],
            repo=payload["repository"]["name"], issue_number=payload["issue"]["number"],
            body="First! 🥇")

See docs/dynamic-triggers.md.
"""

from authward.integrations.github import events, sources
from authward.integrations.github.client import DEFAULT_API_URL, Github, GithubCalls, IssuesCalls
from authward.integrations.github.events import GithubEvent
from authward.integrations.github.sources import GithubSources, RepoWebhookSource

__all__ = [
    "DEFAULT_API_URL",
    "Github",
    "GithubCalls",
    "GithubEvent",
    "GithubSources",
    "IssuesCalls",
    "RepoWebhookSource",
    "events",
    "sources",
]
