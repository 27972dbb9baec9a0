"""The GitHub integration inside runs: githubkit talks HTTP to a local GitHub (tests/peers/
github_api.py) with exactly the credential resolved for the run's account; GitHub's errors become
clear run failures or retries that honour its rate-limit headers."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from authward.integrations.github import Github
from authward.jobs import (
    AuthResolverResult,
    Integration,
    Io,
    JobClient,
    RetryPolicy,
    RunContext,
    event_trigger,
)
from authward.runtime import Authward
from tests.integration.jobs_support import T0, FakeClock, bind, wait_for
from tests.peers.asgi import serve_asgi
from tests.peers.github_api import GithubPeer

TOKENS = {"user_alice": "gho_alice_token_1", "user_bob": "gho_bob_token_2"}


@pytest.fixture
async def peer() -> AsyncIterator[tuple[GithubPeer, str]]:
    github = GithubPeer({token: account for account, token in TOKENS.items()})
    async with serve_asgi(github.app()) as url:
        yield github, url


def make_client(api_url: str) -> tuple[JobClient, Github]:
    client = JobClient(id="gh-tests")
    github = Github(id="github", base_url=api_url)

    @client.auth_resolver(github)
    async def resolve(ctx: RunContext, integration: Integration) -> AuthResolverResult | None:
        if ctx.account is None or ctx.account.id not in TOKENS:
            return None
        return AuthResolverResult(type="oauth", token=TOKENS[ctx.account.id])

    @client.job(
        id="comment",
        name="Comment",
        version="1.0.0",
        trigger=event_trigger(name="comment"),
        integrations={"github": github},
        retry=RetryPolicy(limit=3, min_seconds=5),
    )
    async def comment(payload: Any, io: Io, ctx: RunContext) -> Any:
        gh = io.github
        made = await gh.issues.create_comment(
            "create-issue-comment",
            owner=payload["owner"],
            repo=payload["repo"],
            issue_number=payload["number"],
            body="First! 🥇",
        )
        return {"comment": made["id"], "body": made["body"]}

    @client.job(
        id="open-issue",
        name="Open an issue",
        version="1.0.0",
        trigger=event_trigger(name="open-issue"),
        integrations={"github": github},
    )
    async def open_issue(payload: Any, io: Io, ctx: RunContext) -> Any:
        issue = await io.github.issues.create(
            "create-issue", owner="acme", repo="widgets", **payload
        )
        return {"number": issue["number"], "title": issue["title"], "labels": issue["labels"]}

    return client, github


async def send(aw: Authward, name: str, payload: Any, account: str | None) -> str:
    sent = await aw.jobs.send_event({"name": name, "payload": payload}, account_id=account)
    (run_id,) = sent.run_ids
    return run_id


COMMENT = {"owner": "acme", "repo": "widgets", "number": 7}


@pytest.fixture
async def clocked(
    database_url: str, settings_for: Any, example_config: Any, peer: tuple[GithubPeer, str]
) -> AsyncIterator[tuple[Authward, FakeClock, GithubPeer]]:
    """A runtime on a clock the test moves, running make_client's jobs against the peer."""
    github, url = peer
    aw = await Authward.open(example_config, settings_for(database_url), migrate=True)
    try:
        clock = FakeClock()
        client, _ = make_client(url)
        await bind(aw, client, clock=clock)
        yield aw, clock, github
    finally:
        await aw.close()


async def test_calls_carry_exactly_the_accounts_resolved_token(
    runtime: Authward, peer: tuple[GithubPeer, str]
) -> None:
    github, url = peer
    client, _ = make_client(url)
    await bind(runtime, client)
    alice = await send(runtime, "comment", COMMENT, "user_alice")
    bob = await send(runtime, "comment", COMMENT | {"number": 8}, "user_bob")
    for run_id in (alice, bob):
        run = await wait_for(runtime, run_id)
        assert run.status == "succeeded", run.error
        assert run.output["body"] == "First! 🥇"
        (task,) = run.tasks
        assert (task.key, task.name, task.integration) == (
            "create-issue-comment",
            "github.issues.create_comment",
            "github",
        )
        assert task.credential_source == "resolver"
        assert task.credential_account == run.account_id
    by_issue = {c.path: c.authorization for c in github.calls("/comments")}
    assert by_issue == {
        "/repos/acme/widgets/issues/7/comments": "token gho_alice_token_1",
        "/repos/acme/widgets/issues/8/comments": "token gho_bob_token_2",
    }
    assert next(c.body for c in github.calls("/comments")) == {"body": "First! 🥇"}

    issue = await send(runtime, "open-issue", {"title": "Flaky", "labels": ["bug"]}, "user_bob")
    run = await wait_for(runtime, issue)
    assert run.status == "succeeded", run.error
    assert run.output["title"] == "Flaky"
    assert run.output["labels"] == [{"name": "bug"}]
    (call,) = [c for c in github.requests if c.path == "/repos/acme/widgets/issues"]
    assert call.body == {"title": "Flaky", "labels": ["bug"]}
    assert call.authorization == "token gho_bob_token_2"


async def test_an_account_without_credentials_fails_before_any_request(
    runtime: Authward, peer: tuple[GithubPeer, str]
) -> None:
    github, url = peer
    client, _ = make_client(url)
    await bind(runtime, client)
    run = await wait_for(runtime, await send(runtime, "comment", COMMENT, "user_nobody"))
    assert run.status == "failed"
    assert "Unresolved auth for integration 'github' (account 'user_nobody')" in (run.error or "")
    assert github.requests == []


async def test_a_token_revoked_at_github_fails_the_run_clearly_without_retrying(
    runtime: Authward, peer: tuple[GithubPeer, str]
) -> None:
    github, url = peer
    client, _ = make_client(url)
    await bind(runtime, client)
    del github.tokens[TOKENS["user_alice"]]  # revoked upstream
    run = await wait_for(runtime, await send(runtime, "comment", COMMENT, "user_alice"))
    assert run.status == "failed"
    error = run.error or ""
    assert "github issues.create_comment" in error
    assert "refused the credential of account 'user_alice'" in error
    assert "Bad credentials" in error
    assert TOKENS["user_alice"] not in error
    assert run.tasks[0].attempts == 1  # a refused credential is not retried
    assert len(github.calls("/comments")) == 1


async def test_429_waits_for_retry_after_then_succeeds(
    clocked: tuple[Authward, FakeClock, GithubPeer],
) -> None:
    aw, clock, github = clocked
    github.fail(
        "/comments",
        429,
        "You have exceeded a secondary rate limit.",
        headers={"Retry-After": "30"},
    )
    run_id = await send(aw, "comment", COMMENT, "user_alice")
    run = await wait_for(aw, run_id, "waiting")
    (task,) = run.tasks
    assert task.resume_at is not None
    assert (task.resume_at - T0).total_seconds() == 30
    assert "HTTP 429" in (task.error or "")
    assert "secondary rate limit" in (task.error or "")
    clock.advance(30)
    aw.jobs.wake()
    run = await wait_for(aw, run_id)
    assert run.status == "succeeded", run.error
    assert run.tasks[0].attempts == 2
    assert len(github.calls("/comments")) == 2


async def test_429_with_an_http_date_retry_after_waits_until_that_date(
    clocked: tuple[Authward, FakeClock, GithubPeer],
) -> None:
    aw, _, github = clocked
    # RFC 9110 allows an HTTP date; an hour ahead leaves room for a slow machine.
    until = email.utils.formatdate(time.time() + 3600, usegmt=True)
    github.fail(
        "/comments",
        429,
        "You have exceeded a secondary rate limit.",
        headers={"Retry-After": until},
    )
    run_id = await send(aw, "comment", COMMENT, "user_alice")
    run = await wait_for(aw, run_id, "waiting")
    (task,) = run.tasks
    assert task.resume_at is not None
    assert 3000 <= (task.resume_at - T0).total_seconds() <= 3600
    assert "HTTP 429" in (task.error or "")


async def test_403_rate_limit_waits_until_the_reset_and_other_errors_say_what_github_said(
    clocked: tuple[Authward, FakeClock, GithubPeer],
) -> None:
    aw, _, github = clocked
    reset = int(time.time()) + 120
    github.fail(
        "/comments",
        403,
        "API rate limit exceeded for user ID 7.",
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    run_id = await send(aw, "comment", COMMENT, "user_alice")
    run = await wait_for(aw, run_id, "waiting")
    resume_at = run.tasks[0].resume_at
    assert resume_at is not None
    assert 100 <= (resume_at - T0).total_seconds() <= 120
    assert "HTTP 403" in (run.tasks[0].error or "")

    # A 5xx fails the task like any retryable error: open-issue allows one attempt.
    github.fail("/repos/acme/widgets/issues", 502, "Server Error")
    bad = await send(aw, "open-issue", {"title": ""}, "user_bob")
    waiting = await wait_for(aw, bad, "waiting", "failed")
    assert waiting.status == "failed"  # open-issue has no retries (limit 1)
    assert "HTTP 502" in (waiting.error or "")


async def test_validation_errors_are_final_and_carry_githubs_message(
    runtime: Authward, peer: tuple[GithubPeer, str]
) -> None:
    _github, url = peer
    client, _ = make_client(url)
    await bind(runtime, client)
    run = await wait_for(runtime, await send(runtime, "open-issue", {"title": ""}, "user_bob"))
    assert run.status == "failed"
    assert "github issues.create failed (HTTP 422): Validation Failed; title missing_field" in (
        run.error or ""
    )


async def test_the_developer_token_serves_a_github_without_resolver(
    runtime: Authward, peer: tuple[GithubPeer, str]
) -> None:
    github, url = peer
    github.tokens["ghp_developer"] = "dev"
    client = JobClient(id="dev-gh")
    ours = Github(id="our-github", token="ghp_developer", base_url=url)

    @client.job(
        id="ours",
        name="Ours",
        version="1",
        trigger=event_trigger(name="ours"),
        integrations={"gh": ours},
    )
    async def run_fn(payload: Any, io: Io, ctx: RunContext) -> Any:
        return await io.gh.issues.create_comment(
            "c", owner="acme", repo="widgets", issue_number=1, body="hi"
        )

    await bind(runtime, client)
    run = await wait_for(runtime, await send(runtime, "ours", None, "user_alice"))
    assert run.status == "succeeded", run.error
    assert run.tasks[0].credential_source == "developer"
    assert github.calls("/comments")[0].authorization == "token ghp_developer"


async def test_github_unreachable_is_a_retryable_provider_error(runtime: Authward) -> None:
    from tests.peers import free_port

    client, _ = make_client(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    await bind(runtime, client)
    run_id = await send(runtime, "open-issue", {"title": "x"}, "user_bob")
    run = await wait_for(runtime, run_id)
    assert run.status == "failed"
    assert "github issues.create failed (no answer): ConnectError reaching 127.0.0.1" in (
        run.error or ""
    )
