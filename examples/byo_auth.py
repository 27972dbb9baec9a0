"""The "Bring Your Own Auth" guide, in Python: jobs that call Slack and GitHub with the
credentials of the account each run belongs to, read from authward's vault of connected accounts.

    export AUTHWARD_CONNECTION_SLACK_CLIENT_ID=... AUTHWARD_CONNECTION_SLACK_CLIENT_SECRET=...
    export AUTHWARD_CONNECTION_GITHUB_CLIENT_ID=... AUTHWARD_CONNECTION_GITHUB_CLIENT_SECRET=...
    authward serve --app examples/byo_auth.py      # data in ./authward-byo_auth.db

A signed-in user connects Slack and GitHub at /connections; the runs of their account id (their
user id) then post and comment as them. BYO_SLACK_URL, BYO_SLACK_API_URL and BYO_GITHUB_URL,
BYO_GITHUB_API_URL point the example at other servers (the tests' local ones, GitHub Enterprise).
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, Field

from authward import connection, db, define_auth, define_config
from authward.integrations import AuthResolverResult
from authward.integrations.github import Github, events
from authward.integrations.slack import Slack
from authward.jobs import Io, JobClient, RunContext, event_trigger

SLACK_URL = os.environ.get("BYO_SLACK_URL", "https://slack.com")
SLACK_API_URL = os.environ.get("BYO_SLACK_API_URL", "https://slack.com/api/")
GITHUB_URL = os.environ.get("BYO_GITHUB_URL", "https://github.com")
GITHUB_API_URL = os.environ.get("BYO_GITHUB_API_URL", "https://api.github.com")

user = db.type("User", {"email": db.string().unique(), **db.fields.timestamps()})

# authward is also the identity service that holds the users' OAuth tokens (Clerk's part
# in other stacks).
auth = define_auth(
    "byo-auth",
    user_profile={"type": user, "username_field": "email"},
    connections=[
        connection.slack(scopes=["chat:write"], base_url=SLACK_URL),  # "oauth_slack"
        # Registering webhooks needs admin:repo_hook; commenting needs repo.
        connection.github(scopes=["repo", "admin:repo_hook"], base_url=GITHUB_URL),
    ],
)
config = define_config(auth=auth, db=[user])

client = JobClient(id="byo-app", config=config)


# -- 2-7. a Slack integration whose credentials come from the run's account ---------------------

byo_slack = Slack(id="byo-slack", base_url=SLACK_API_URL)


@client.auth_resolver(byo_slack)
async def resolve_slack(ctx: RunContext, integration: Any) -> AuthResolverResult | None:
    if ctx.account is None:
        return None  # the run fails with "Unresolved auth"
    tokens = await auth.users.get_oauth_access_token(ctx.account.id, "oauth_slack")
    if not tokens:
        raise LookupError(f"Could not find Slack auth for account {ctx.account.id}")
    return AuthResolverResult(type="oauth", token=tokens[0].token)


class PostMessage(BaseModel):
    text: str
    channel: str


@client.job(
    id="post-a-message",
    name="Post a Slack Message",
    version="1.0.0",
    trigger=event_trigger(name="post.message", schema=PostMessage),
    integrations={"slack": byo_slack},
)
async def post_a_message(payload: PostMessage, io: Io, ctx: RunContext) -> Any:
    return await io.slack.post_message("💬", channel=payload.channel, text=payload.text)


# -- bonus: a second Slack client with the developer's own credentials --------------------------
# `authward connection add-developer oauth_slack --token-stdin` stores them; no resolver needed.

our_slack = Slack(id="our-slack", base_url=SLACK_API_URL)


@client.job(
    id="post-and-announce",
    name="Post a Slack Message and announce it",
    version="1.0.0",
    trigger=event_trigger(name="post.announced", schema=PostMessage),
    integrations={"byo_slack": byo_slack, "our_slack": our_slack},
)
async def post_and_announce(payload: PostMessage, io: Io, ctx: RunContext) -> None:
    await io.byo_slack.post_message("💬", channel=payload.channel, text=payload.text)
    account = ctx.account.id if ctx.account else None
    await io.our_slack.post_message(
        "📢",
        channel="C01234567",
        text=f"We just sent the following message to {account}: {payload.text}",
    )


# -- scheduled runs for an account: a dynamic schedule -------------------------------------------

dynamic_interval = client.define_dynamic_schedule(id="my-schedule")


@client.job(
    id="scheduled-job",
    name="Scheduled Job",
    version="1.0.0",
    trigger=dynamic_interval,
    integrations={"slack": byo_slack},
)
async def scheduled_job(payload: dict[str, Any], io: Io, ctx: RunContext) -> None:
    await io.logger.info("This runs dynamic schedules")
    await io.slack.post_message(
        f"digest:{payload['ts']}", channel="C01234567", text="Your scheduled digest"
    )


async def register_schedule_for(account_id: str) -> dict[str, Any]:
    """From the backend: one schedule per account, the account id doubling as the schedule id."""
    return await dynamic_interval.register(
        account_id, {"type": "interval", "options": {"seconds": 60}, "account_id": account_id}
    )


# -- webhook triggers for an account: a GitHub dynamic trigger -----------------------------------

github = Github(id="github", base_url=GITHUB_API_URL)


@client.auth_resolver(github)
async def resolve_github(ctx: RunContext, integration: Any) -> AuthResolverResult | None:
    if ctx.account is None:
        return None
    tokens = await auth.users.get_oauth_access_token(ctx.account.id, "oauth_github")
    if not tokens:
        raise LookupError(f"Could not find GitHub auth for account {ctx.account.id}")
    return AuthResolverResult(type="oauth", token=tokens[0].token)


dynamic_on_issue_opened_trigger = client.define_dynamic_trigger(
    id="github-issue-opened", event=events.on_issue_opened, source=github.sources.repo
)


@client.job(
    id="listen-for-dynamic-trigger",
    name="Listen for dynamic trigger",
    version="0.1.1",
    trigger=dynamic_on_issue_opened_trigger,
    integrations={"github": github},
)
async def listen_for_dynamic_trigger(payload: Any, io: Io, ctx: RunContext) -> Any:
    return await io.github.issues.create_comment(
        "create-issue-comment",
        owner=payload["repository"]["owner"]["login"],
        repo=payload["repository"]["name"],
        issue_number=payload["issue"]["number"],
        body="First! 🥇",
    )


class RegisterIssueOpened(BaseModel):
    id: str
    owner: str
    repo: str
    account_id: str | None = Field(default=None, alias="accountId")


@client.job(
    id="register-issue-opened",
    name="Register Issue Opened for Account",
    version="0.0.1",
    trigger=event_trigger(name="register.issue.opened", schema=RegisterIssueOpened),
)
async def register_issue_opened(payload: RegisterIssueOpened, io: Io, ctx: RunContext) -> Any:
    # Inside a run this is a task keyed by payload.id.
    return await dynamic_on_issue_opened_trigger.register(
        payload.id, {"owner": payload.owner, "repo": payload.repo}, account_id=payload.account_id
    )


async def register_issue_opened_trigger(
    id: str, owner: str, repo: str, account_id: str | None = None
) -> Any:
    """From the backend: no task, the webhook is created at once."""
    return await dynamic_on_issue_opened_trigger.register(
        id, {"owner": owner, "repo": repo}, account_id=account_id
    )
