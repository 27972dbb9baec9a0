"""examples/byo_auth.py: the seed's "Bring Your Own Auth" guide end to end, on SQLite and
PostgreSQL. The real slack_sdk and githubkit talk to local servers that speak Slack's and
GitHub's wire formats; the accounts' tokens live in authward's vault of connected accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType

import pytest

from authward.config import load_app
from authward.connections.client import TokenSet
from authward.jobs import JobsRuntime, find_job_clients
from authward.runtime import Authward
from authward.server.app import build_app
from tests.conftest import ROOT, SettingsFactory
from tests.integration.jobs_support import T0, FakeClock, wait_for
from tests.peers import free_port
from tests.peers.asgi import serve_asgi
from tests.peers.github_api import GithubPeer
from tests.peers.slack_api import SlackPeer
from tests.secret_scan import SCAN

EXAMPLE = ROOT / "examples" / "byo_auth.py"
SLACK_TOKENS = {"xoxp-user-123-slack-token": "U123", "xoxb-developer-slack-token": "UDEV"}
USER_SLACK, DEV_SLACK = SLACK_TOKENS
USER_GITHUB = "gho_user_123_github_token"
for _secret in (*SLACK_TOKENS, USER_GITHUB):
    SCAN.secret(_secret, "third-party token (test_byo_auth_example)")


@dataclass
class World:
    aw: Authward
    module: ModuleType
    clock: FakeClock
    slack: SlackPeer
    github: GithubPeer


def tokens(access_token: str) -> TokenSet:
    return TokenSet(
        access_token=access_token,
        refresh_token=None,
        token_type="bearer",
        expires_at=None,
        scopes=None,
    )


@pytest.fixture
async def world(
    database_url: str, settings_for: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    slack, github = SlackPeer(SLACK_TOKENS), GithubPeer({USER_GITHUB: "user123"})
    async with slack.serve() as slack_api, serve_asgi(github.app()) as github_api:
        monkeypatch.setenv("BYO_SLACK_API_URL", slack_api)
        monkeypatch.setenv("BYO_GITHUB_API_URL", github_api)
        for name in ("SLACK", "GITHUB"):
            monkeypatch.setenv(f"AUTHWARD_CONNECTION_{name}_CLIENT_ID", f"{name.lower()}-client")
            monkeypatch.setenv(f"AUTHWARD_CONNECTION_{name}_CLIENT_SECRET", "not-used-here-123")
        config, module = load_app(EXAMPLE)
        port = free_port()
        aw = await Authward.open(
            config,
            settings_for(database_url, issuer=f"http://127.0.0.1:{port}"),
            migrate=True,
        )
        clock = FakeClock()
        try:
            aw.jobs = JobsRuntime(aw.jobs.ports, find_job_clients(module), clock=clock)
            await aw.jobs.start(scheduler=False)
            # user_123 connected Slack and GitHub; the developer connected their own Slack.
            await aw.connections.store("user_123", "oauth_slack", tokens(USER_SLACK))
            await aw.connections.store("user_123", "oauth_github", tokens(USER_GITHUB))
            await aw.connections.store("", "oauth_slack", tokens(DEV_SLACK), kind="developer")
            async with serve_asgi(build_app(aw), port=port):
                yield World(aw, module, clock, slack, github)
        finally:
            await aw.close()


async def test_the_slack_job_posts_with_the_accounts_vault_token(world: World) -> None:
    w = world
    sent = await w.module.client.send_event(
        {"name": "post.message", "payload": {"text": "hello", "channel": "C1"}},
        account_id="user_123",
    )
    run = await wait_for(w.aw, sent.run_ids[0])

    assert run.status == "succeeded", run.error
    [call] = w.slack.calls("chat.postMessage")
    assert call.authorization == f"Bearer {USER_SLACK}"
    [task] = run.tasks
    assert (task.key, task.integration, task.credential_source, task.credential_account) == (
        "💬",
        "byo-slack",
        "vault",
        "user_123",
    )
    assert [r.account_id for r in await w.aw.jobs.list_runs(job_id="post-a-message")] == [
        "user_123"
    ]
    assert USER_SLACK not in repr(run)


async def test_without_an_account_or_a_connection_the_run_fails_with_unresolved_auth(
    world: World,
) -> None:
    w = world
    nobody = await w.module.client.send_event(
        {"name": "post.message", "payload": {"text": "hi", "channel": "C1"}}
    )
    stranger = await w.module.client.send_event(
        {"name": "post.message", "payload": {"text": "hi", "channel": "C1"}},
        account_id="user_456",
    )
    first = await wait_for(w.aw, nobody.run_ids[0])
    second = await wait_for(w.aw, stranger.run_ids[0])

    assert w.slack.requests == []
    assert first.error == (
        "Unresolved auth for integration 'byo-slack' (account none): "
        "the auth resolver returned None"
    )
    assert second.error == (
        "Unresolved auth for integration 'byo-slack' (account 'user_456'): the auth resolver "
        "raised LookupError: Could not find Slack auth for account user_456"
    )


async def test_two_slack_clients_each_use_their_own_credentials(world: World) -> None:
    w = world
    sent = await w.module.client.send_event(
        {"name": "post.announced", "payload": {"text": "hello", "channel": "C1"}},
        account_id="user_123",
    )
    run = await wait_for(w.aw, sent.run_ids[0])

    assert run.status == "succeeded", run.error
    byo, ours = w.slack.calls("chat.postMessage")
    assert (byo.authorization, byo.args["channel"]) == (f"Bearer {USER_SLACK}", "C1")
    assert (ours.authorization, ours.args["channel"]) == (f"Bearer {DEV_SLACK}", "C01234567")
    assert ours.args["text"] == "We just sent the following message to user_123: hello"
    assert [(t.integration, t.credential_source, t.credential_account) for t in run.tasks] == [
        ("byo-slack", "vault", "user_123"),
        ("our-slack", "developer", None),
    ]


async def test_a_token_revoked_at_slack_breaks_the_connection_and_later_runs_say_so(
    world: World,
) -> None:
    w = world
    w.slack.revoked.add(USER_SLACK)
    payload = {"text": "hello", "channel": "C1"}
    first = await w.module.client.send_event(
        {"name": "post.message", "payload": payload}, account_id="user_123"
    )
    refused = await wait_for(w.aw, first.run_ids[0])
    again = await w.module.client.send_event(
        {"name": "post.message", "payload": payload}, account_id="user_123"
    )
    broken = await wait_for(w.aw, again.run_ids[0])

    assert refused.status == "failed"
    assert refused.error is not None
    assert "refused the credential of account 'user_123'" in refused.error
    assert len(w.slack.calls("chat.postMessage")) == 1  # the second run never sent the token
    assert broken.error is not None
    assert broken.error.startswith(
        "Unresolved auth for integration 'byo-slack' (account 'user_123')"
    )
    [info] = [c for c in await w.aw.connections.list("user_123") if c.provider == "oauth_slack"]
    assert info.status == "broken"


async def test_the_dynamic_schedule_runs_for_its_account(world: World) -> None:
    w = world
    await w.module.register_schedule_for("user_123")
    fired = await w.aw.jobs.scheduler.tick(T0 + timedelta(seconds=60))
    [run] = [await wait_for(w.aw, run_id) for run_id in fired]

    assert (run.job_id, run.account_id, run.status) == ("scheduled-job", "user_123", "succeeded")
    [call] = w.slack.calls("chat.postMessage")
    assert call.authorization == f"Bearer {USER_SLACK}"


async def test_the_github_trigger_registered_for_an_account_comments_as_that_account(
    world: World,
) -> None:
    w = world
    sent = await w.module.client.send_event(
        {
            "name": "register.issue.opened",
            "payload": {"id": "reg_1", "owner": "acme", "repo": "widgets", "accountId": "user_123"},
        }
    )
    registering = await wait_for(w.aw, sent.run_ids[0])
    assert registering.status == "succeeded", registering.error
    assert [t.key for t in registering.tasks] == ["reg_1"]
    [hook] = w.github.hooks.values()
    assert hook.url.startswith(w.aw.issuer + "/webhooks/")
    assert w.github.calls("/hooks")[0].authorization == f"token {USER_GITHUB}"

    delivered = await w.github.deliver(
        hook, "issues", w.github.issue_opened_payload("acme", "widgets", 7)
    )
    assert delivered.status_code == 202
    [run_id] = delivered.json()["run_ids"]
    run = await wait_for(w.aw, run_id)

    assert (run.job_id, run.account_id, run.status) == (
        "listen-for-dynamic-trigger",
        "user_123",
        "succeeded",
    )
    [comment] = w.github.calls("/issues/7/comments")
    assert comment.body == {"body": "First! 🥇"}
    assert comment.authorization == f"token {USER_GITHUB}"
    assert run.tasks[0].credential_source == "vault"
