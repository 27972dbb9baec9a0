"""The Slack integration through real job runs: slack_sdk talks HTTP to a local Slack Web API
(tests/peers/slack_api.py), on SQLite and PostgreSQL.

The seed's "Bring Your Own Auth" guide: a `byo-slack` integration whose auth resolver answers
with each account's token, next to `our-slack` with the developer's own; "Unresolved auth";
Slack's rate limits, outages and refused tokens; and no token in any run record or log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import inspect, text

from authward.connections.client import TokenSet
from authward.integrations import AuthResolverResult, Slack
from authward.jobs import Io, JobClient, RetryPolicy, RunContext, RunDetail, event_trigger
from authward.runtime import Authward
from tests.integration.jobs_support import T0, FakeClock, bind, wait_for, wait_until
from tests.peers import free_port
from tests.peers.slack_api import SlackPeer
from tests.secret_scan import SCAN

ALICE_TOKEN = f"xoxp-alice-{secrets.token_hex(16)}"
BOB_TOKEN = f"xoxp-bob-{secrets.token_hex(16)}"
ALICE_ROTATED = f"xoxp-alice2-{secrets.token_hex(16)}"
OUR_TOKEN = f"xoxb-ours-{secrets.token_hex(16)}"
UNKNOWN_TOKEN = f"xoxp-nobody-{secrets.token_hex(16)}"
VAULT_TOKEN = f"xoxb-vault-{secrets.token_hex(16)}"
TOKENS = (ALICE_TOKEN, BOB_TOKEN, ALICE_ROTATED, OUR_TOKEN, UNKNOWN_TOKEN, VAULT_TOKEN)
for _token in TOKENS:
    SCAN.secret(_token, "Slack token (test_integration_slack)")

ACCOUNT_TOKENS = {"alice": ALICE_TOKEN, "bob": BOB_TOKEN}


class Message(BaseModel):
    text: str
    channel: str


@pytest.fixture
async def peer() -> AsyncIterator[SlackPeer]:
    peer = SlackPeer(
        tokens={
            ALICE_TOKEN: "U_ALICE",
            BOB_TOKEN: "U_BOB",
            ALICE_ROTATED: "U_ALICE",
            OUR_TOKEN: "U_OURBOT",
            VAULT_TOKEN: "U_VAULTBOT",
        }
    )
    async with peer.serve():
        yield peer


def by_account(tokens: dict[str, str]) -> Callable[[RunContext, Any], Any]:
    """The seed's resolver: the account's token, None when the run has no (known) account."""

    async def resolve(ctx: RunContext, integration: Any) -> AuthResolverResult | None:
        if ctx.account is None or ctx.account.id not in tokens:
            return None
        return AuthResolverResult(type="oauth", token=tokens[ctx.account.id])

    return resolve


def post_a_message(
    client: JobClient, integrations: dict[str, Slack], *, retry: RetryPolicy | None = None
) -> Callable[[Any], Any]:
    return client.job(
        id="post-a-message",
        name="Post a Slack Message",
        version="1.0.0",
        trigger=event_trigger(name="post.message", schema=Message),
        integrations=integrations,
        retry=retry,
    )


async def send(client: JobClient, account_id: str | None = None, **payload: str) -> str:
    payload = {"text": "hello", "channel": "C0GENERAL", **payload}
    sent = await client.send_event(
        {"name": "post.message", "payload": payload}, account_id=account_id
    )
    return sent.run_ids[0]


async def stored_text(aw: Authward, run_ids: list[str]) -> str:
    """Every run detail (tasks, logs, error) and every row of the jobs' tables, as text."""
    parts = []
    for run_id in run_ids:
        run = await aw.jobs.get_run(run_id)
        assert run is not None
        parts.append(json.dumps(dataclasses.asdict(run), default=str))
    async with aw.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        for table in tables:
            if table.startswith("aw_job"):
                rows = await conn.execute(text(f"SELECT * FROM {table}"))
                parts.append(repr(rows.all()))
    return "\n".join(parts)


async def assert_no_token(
    aw: Authward, run_ids: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    stored = await stored_text(aw, run_ids)
    assert run_ids[0] in stored  # the dump holds the runs
    for token in TOKENS:
        assert token not in stored
        assert token not in caplog.text


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    # slack_sdk logs each request and answer at DEBUG: prove the tokens are not in them.
    caplog.set_level(logging.DEBUG, logger="slack_sdk")
    caplog.set_level(logging.DEBUG, logger="authward")


async def test_post_a_message_sends_each_accounts_own_token(
    runtime: Authward, peer: SlackPeer, caplog: pytest.LogCaptureFixture
) -> None:
    client = JobClient(id="app")
    byo_slack = Slack(id="byo-slack", base_url=peer.api_url)
    client.define_auth_resolver(byo_slack, by_account(ACCOUNT_TOKENS))

    @post_a_message(client, {"slack": byo_slack})
    async def job(payload: Message, io: Io, ctx: RunContext) -> Any:
        sent = await io.slack.post_message("💬", channel=payload.channel, text=payload.text)
        return sent["ts"]

    await bind(runtime, client)
    alice = await send(client, "alice", text="from alice")
    alice_run = await wait_for(runtime, alice)
    bob = await send(client, "bob", text="from bob", channel="C0RANDOM")
    bob_run = await wait_for(runtime, bob)

    assert (alice_run.status, bob_run.status) == ("succeeded", "succeeded"), (
        alice_run.error,
        bob_run.error,
    )
    first, second = peer.calls("chat.postMessage")
    assert first.authorization == f"Bearer {ALICE_TOKEN}"
    assert first.body == {"channel": "C0GENERAL", "text": "from alice"}
    assert second.authorization == f"Bearer {BOB_TOKEN}"
    assert second.body == {"channel": "C0RANDOM", "text": "from bob"}
    # What Slack stored: each message posted as its own account's user.
    posted = {m["text"]: m["user"] for m in peer.messages.values()}
    assert posted == {"from alice": "U_ALICE", "from bob": "U_BOB"}
    assert alice_run.output == first_ts(peer, "from alice")

    task = alice_run.tasks[0]
    assert (task.key, task.name, task.status) == ("💬", "slack.chat.postMessage", "succeeded")
    assert (task.integration, task.credential_source, task.credential_account) == (
        "byo-slack",
        "resolver",
        "alice",
    )
    assert task.output["ok"] is True
    assert bob_run.tasks[0].credential_account == "bob"
    await assert_no_token(runtime, [alice, bob], caplog)


def first_ts(peer: SlackPeer, text_: str) -> str:
    return next(ts for (_, ts), m in peer.messages.items() if m["text"] == text_)


async def test_two_slack_clients_in_one_run_each_use_their_own_credential(
    runtime: Authward, peer: SlackPeer, caplog: pytest.LogCaptureFixture
) -> None:
    client = JobClient(id="app")
    byo_slack = Slack(id="byo-slack", base_url=peer.api_url)
    our_slack = Slack(id="our-slack", token=OUR_TOKEN, base_url=peer.api_url)
    client.define_auth_resolver(byo_slack, by_account(ACCOUNT_TOKENS))

    @post_a_message(client, {"byo_slack": byo_slack, "our_slack": our_slack})
    async def job(payload: Message, io: Io, ctx: RunContext) -> None:
        await io.byo_slack.post_message("💬", channel=payload.channel, text=payload.text)
        account = ctx.account.id if ctx.account else None
        await io.our_slack.post_message(
            "📢",
            channel="C01234567",
            text=f"We just sent the following message to {account}: {payload.text}",
        )

    await bind(runtime, client)
    run_id = await send(client, "alice", text="hi there")
    run = await wait_for(runtime, run_id)

    assert run.status == "succeeded", run.error
    theirs, ours = peer.calls("chat.postMessage")
    assert (theirs.authorization, theirs.body["channel"]) == (f"Bearer {ALICE_TOKEN}", "C0GENERAL")
    assert (ours.authorization, ours.body) == (
        f"Bearer {OUR_TOKEN}",
        {"channel": "C01234567", "text": "We just sent the following message to alice: hi there"},
    )
    lineage = [(t.key, t.integration, t.credential_source, t.credential_account) for t in run.tasks]
    assert lineage == [
        ("💬", "byo-slack", "resolver", "alice"),
        ("📢", "our-slack", "developer", None),
    ]
    await assert_no_token(runtime, [run_id], caplog)


async def test_unresolved_auth_fails_the_run_before_any_request(
    runtime: Authward, peer: SlackPeer, caplog: pytest.LogCaptureFixture
) -> None:
    client = JobClient(id="app")
    cases = {
        "none": Slack(id="byo-slack", base_url=peer.api_url),
        "raises": Slack(id="raising-slack", base_url=peer.api_url),
        "hangs": Slack(id="hanging-slack", base_url=peer.api_url),
        "wrong-type": Slack(id="confused-slack", base_url=peer.api_url),
    }
    client.define_auth_resolver(cases["none"], by_account(ACCOUNT_TOKENS))

    @client.auth_resolver(cases["raises"])
    async def raises(ctx: RunContext, integration: Any) -> None:
        account = ctx.account.id if ctx.account else None
        raise LookupError(f"Could not find Slack auth for account {account}")

    @client.auth_resolver(cases["hangs"], timeout_seconds=0.05)
    async def hangs(ctx: RunContext, integration: Any) -> None:
        await asyncio.Event().wait()

    @client.auth_resolver(cases["wrong-type"])
    async def wrong_type(ctx: RunContext, integration: Any) -> str:
        return ALICE_TOKEN  # the token itself instead of AuthResolverResult(...)

    for name, slack in cases.items():

        async def run(payload: Any, io: Io, ctx: RunContext) -> None:
            await io.slack.post_message("💬", channel="C0GENERAL", text="hi")

        client.define_job(
            id=name,
            name=name,
            version="1",
            trigger=event_trigger(name=name),
            integrations={"slack": slack},
            run=run,
        )

    await bind(runtime, client)

    async def fail(job_id: str, account_id: str | None) -> RunDetail:
        sent = await client.send_event({"name": job_id, "payload": {}}, account_id=account_id)
        run = await wait_for(runtime, sent.run_ids[0])
        assert run.status == "failed"
        assert run.error is not None
        assert run.error.startswith("Unresolved auth for integration ")
        # The call that could not be made is on the timeline, failed, with the same message.
        assert [(t.key, t.status, t.integration) for t in run.tasks] == [
            ("💬", "failed", cases[job_id].id)
        ]
        assert run.tasks[0].error == run.error
        return run

    no_account = await fail("none", None)
    assert no_account.error == (
        "Unresolved auth for integration 'byo-slack' (account none): "
        "the auth resolver returned None"
    )
    unknown = await fail("none", "carol")
    assert unknown.error == (
        "Unresolved auth for integration 'byo-slack' (account 'carol'): "
        "the auth resolver returned None"
    )
    raised = await fail("raises", "alice")
    assert raised.error == (
        "Unresolved auth for integration 'raising-slack' (account 'alice'): the auth resolver "
        "raised LookupError: Could not find Slack auth for account alice"
    )
    hung = await fail("hangs", "alice")
    assert hung.error == (
        "Unresolved auth for integration 'hanging-slack' (account 'alice'): "
        "the auth resolver did not answer within 0.05s"
    )
    confused = await fail("wrong-type", "alice")
    assert confused.error is not None
    assert "Unresolved auth for integration 'confused-slack' (account 'alice')" in confused.error
    assert "returned a str; return AuthResolverResult(type=..., token=...) or None" in (
        confused.error
    )

    assert peer.requests == []  # nothing reached Slack with a missing credential
    await assert_no_token(
        runtime, [r.id for r in (no_account, unknown, raised, hung, confused)], caplog
    )


async def test_the_resolver_runs_once_per_execution_and_a_resumed_run_posts_nothing_twice(
    runtime: Authward, peer: SlackPeer
) -> None:
    clock = FakeClock()
    client = JobClient(id="app")
    byo_slack = Slack(id="byo-slack", base_url=peer.api_url)
    resolved: list[str] = []
    current = {"alice": ALICE_TOKEN}

    @client.auth_resolver(byo_slack)
    async def resolve(ctx: RunContext, integration: Any) -> AuthResolverResult:
        assert ctx.account is not None
        resolved.append(ctx.account.id)
        return AuthResolverResult(type="oauth", token=current[ctx.account.id])

    @post_a_message(client, {"slack": byo_slack})
    async def job(payload: Message, io: Io, ctx: RunContext) -> None:
        first = await io.slack.post_message("first", channel=payload.channel, text="one")
        await io.slack.add_reaction(
            "react", channel=payload.channel, timestamp=first["ts"], name="eyes"
        )
        await io.slack.update_message(
            "edit", channel=payload.channel, ts=first["ts"], text="one (edited)"
        )
        await io.wait("an hour", seconds=3600)
        await io.slack.post_message("second", channel=payload.channel, text="two")

    await bind(runtime, client, clock=clock)
    run_id = await send(client, "alice")
    waiting = await wait_for(runtime, run_id, "waiting")
    assert waiting.resume_at == T0 + timedelta(hours=1)
    assert resolved == ["alice"]  # three calls, one resolution

    current["alice"] = ALICE_ROTATED  # the account's token was refreshed during the wait
    clock.advance(3600)
    runtime.jobs.wake()
    run = await wait_for(runtime, run_id)

    assert run.status == "succeeded", run.error
    assert resolved == ["alice", "alice"]  # the resumed execution resolves afresh, once
    posts = peer.calls("chat.postMessage")
    assert [(p.body["text"], p.authorization) for p in posts] == [
        ("one", f"Bearer {ALICE_TOKEN}"),
        ("two", f"Bearer {ALICE_ROTATED}"),
    ]
    assert [r.api_method for r in peer.requests] == [
        "chat.postMessage",
        "reactions.add",
        "chat.update",
        "chat.postMessage",
    ]
    assert sorted(m["text"] for m in peer.messages.values()) == ["one (edited)", "two"]


async def test_a_rate_limited_call_is_retried_after_retry_after(
    runtime: Authward, peer: SlackPeer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    client = JobClient(id="app")
    our_slack = Slack(id="our-slack", token=OUR_TOKEN, base_url=peer.api_url)

    @post_a_message(client, {"slack": our_slack}, retry=RetryPolicy(limit=3, min_seconds=1))
    async def job(payload: Message, io: Io, ctx: RunContext) -> Any:
        return (await io.slack.post_message("💬", channel=payload.channel, text="hi"))["ts"]

    await bind(runtime, client, clock=clock)
    peer.rate_limit_next(1, retry_after=30)
    run_id = await send(client)
    waiting = await wait_for(runtime, run_id, "waiting")

    assert waiting.resume_at == T0 + timedelta(seconds=30)  # Slack's delay, not the policy's
    task = waiting.tasks[0]
    assert (task.status, task.attempts) == ("waiting", 1)
    assert task.error == (
        "our-slack chat.postMessage failed (HTTP 429): Slack rate limited the call (ratelimited)"
    )
    clock.advance(30)
    runtime.jobs.wake()
    run = await wait_for(runtime, run_id)

    assert run.status == "succeeded", run.error
    assert (run.tasks[0].attempts, run.tasks[0].error) == (2, None)
    assert len(peer.calls("chat.postMessage")) == 2
    assert run.output == first_ts(peer, "hi")
    await assert_no_token(runtime, [run_id], caplog)


async def test_a_retry_after_http_date_is_waited_for(runtime: Authward, peer: SlackPeer) -> None:
    clock = FakeClock()
    client = JobClient(id="app")
    our_slack = Slack(id="our-slack", token=OUR_TOKEN, base_url=peer.api_url)

    @post_a_message(client, {"slack": our_slack}, retry=RetryPolicy(limit=3, min_seconds=1))
    async def job(payload: Message, io: Io, ctx: RunContext) -> Any:
        return (await io.slack.post_message("💬", channel=payload.channel, text="hi"))["ts"]

    await bind(runtime, client, clock=clock)
    # RFC 9110 allows an HTTP date; an hour ahead leaves room for a slow machine.
    peer.rate_limit_next(1, retry_after=email.utils.formatdate(time.time() + 3600, usegmt=True))
    run_id = await send(client)
    waiting = await wait_for(runtime, run_id, "waiting")

    assert waiting.resume_at is not None
    assert 3000 <= (waiting.resume_at - T0).total_seconds() <= 3600  # not the policy's 1 s


async def test_slack_outages_are_retried_by_the_task_policy(
    runtime: Authward, peer: SlackPeer
) -> None:
    clock = FakeClock()
    client = JobClient(id="app")
    our_slack = Slack(id="our-slack", token=OUR_TOKEN, base_url=peer.api_url)
    # Nothing listens there: a connection error, which is retried too.
    nowhere = Slack(
        id="nowhere-slack", token=OUR_TOKEN, base_url=f"http://127.0.0.1:{free_port()}/api/"
    )

    @post_a_message(
        client,
        {"slack": our_slack, "nowhere": nowhere},
        retry=RetryPolicy(limit=2, min_seconds=5),
    )
    async def job(payload: Message, io: Io, ctx: RunContext) -> None:
        await io.slack.post_message("💬", channel=payload.channel, text=payload.text)
        if payload.text == "and nowhere":
            await io.nowhere.post_message("🕳", channel=payload.channel, text="lost")

    await bind(runtime, client, clock=clock)
    peer.fail_next(1, status=500)
    run_id = await send(client, text="and nowhere")
    waiting = await wait_for(runtime, run_id, "waiting")
    assert waiting.resume_at == T0 + timedelta(seconds=5)
    assert waiting.tasks[0].error == (
        "our-slack chat.postMessage failed (HTTP 500): Slack error 'internal_error'"
    )

    clock.advance(5)
    runtime.jobs.wake()
    second = await wait_until(
        runtime, run_id, lambda r: r.status == "waiting" and len(r.tasks) == 2
    )
    assert second.tasks[0].status == "succeeded"
    assert second.tasks[1].error is not None
    assert second.tasks[1].error.startswith("nowhere-slack chat.postMessage failed (no answer): ")
    clock.advance(5)
    runtime.jobs.wake()
    run = await wait_for(runtime, run_id)

    assert run.status == "failed"
    assert run.error is not None
    assert run.error.startswith(
        "task '🕳' failed after 2 attempts: nowhere-slack chat.postMessage failed (no answer): "
    )
    assert len(peer.calls("chat.postMessage")) == 2  # the 500, then the post


async def test_refused_tokens_and_slack_errors_fail_at_once_with_a_clear_message(
    runtime: Authward, peer: SlackPeer, caplog: pytest.LogCaptureFixture
) -> None:
    client = JobClient(id="app")
    byo_slack = Slack(id="byo-slack", base_url=peer.api_url)
    client.define_auth_resolver(
        byo_slack, by_account({"alice": ALICE_TOKEN, "mallory": UNKNOWN_TOKEN, "bob": BOB_TOKEN})
    )

    @post_a_message(client, {"slack": byo_slack}, retry=RetryPolicy(limit=5, min_seconds=0))
    async def job(payload: Message, io: Io, ctx: RunContext) -> None:
        await io.slack.post_message("💬", channel=payload.channel, text=payload.text)

    await bind(runtime, client)
    peer.revoked.add(BOB_TOKEN)
    invalid = await wait_for(runtime, await send(client, "mallory"))
    revoked = await wait_for(runtime, await send(client, "bob"))
    missing = await wait_for(runtime, await send(client, "alice", channel="C_MISSING"))

    assert invalid.status == revoked.status == missing.status == "failed"
    assert invalid.error == (
        "task '💬' failed after 1 attempt: byo-slack chat.postMessage: the provider refused the "
        "credential of account 'mallory' (invalid_auth); the account must reconnect or the "
        "resolver return a valid token"
    )
    assert revoked.error is not None
    assert "refused the credential of account 'bob' (token_revoked)" in revoked.error
    assert missing.error == (
        "task '💬' failed after 1 attempt: byo-slack chat.postMessage failed (HTTP 200): "
        "Slack error 'channel_not_found'"
    )
    # One request each: a refused token or a Slack error is not tried again.
    assert [r.authorization for r in peer.calls("chat.postMessage")] == [
        f"Bearer {UNKNOWN_TOKEN}",
        f"Bearer {BOB_TOKEN}",
        f"Bearer {ALICE_TOKEN}",
    ]
    await assert_no_token(runtime, [invalid.id, revoked.id, missing.id], caplog)


async def test_additional_fields_reach_slack_and_cannot_send_the_token_elsewhere(
    runtime: Authward, peer: SlackPeer, caplog: pytest.LogCaptureFixture
) -> None:
    client = JobClient(id="app")
    grid = Slack(id="grid-slack", base_url=peer.api_url)
    steered = Slack(id="steered-slack", base_url=peer.api_url)
    elsewhere = SlackPeer(tokens={ALICE_TOKEN: "U_ALICE"})

    @client.auth_resolver(grid)
    async def org_wide(ctx: RunContext, integration: Any) -> AuthResolverResult:
        return AuthResolverResult(
            type="oauth",
            token=ALICE_TOKEN,
            additional_fields={"team_id": "T0WORKSPACE", "base_url": peer.api_url},
        )

    @post_a_message(client, {"grid": grid, "steered": steered})
    async def job(payload: Message, io: Io, ctx: RunContext) -> Any:
        await io.grid.post_message("💬", channel=payload.channel, text="org-wide")
        who = await io.grid.users_info("who", user="U_ALICE")
        channels = await io.grid.conversations_list("channels", types=["public_channel"])
        await io.steered.post_message("🧭", channel=payload.channel, text="steered")
        return [who["user"]["id"], [c["id"] for c in channels["channels"]]]

    async with elsewhere.serve() as elsewhere_url:

        @client.auth_resolver(steered)
        async def steer(ctx: RunContext, integration: Any) -> AuthResolverResult:
            return AuthResolverResult(
                type="oauth", token=ALICE_TOKEN, additional_fields={"base_url": elsewhere_url}
            )

        await bind(runtime, client)
        run_id = await send(client, "alice")
        run = await wait_for(runtime, run_id)

    assert run.status == "failed"
    post, info, listing = peer.requests
    # team_id (an org-wide app's workspace) goes with every request, as slack_sdk sends it.
    assert post.body == {"channel": "C0GENERAL", "text": "org-wide", "team_id": "T0WORKSPACE"}
    assert (info.method, info.query) == ("GET", {"user": "U_ALICE", "team_id": "T0WORKSPACE"})
    assert listing.query == {"types": "public_channel", "team_id": "T0WORKSPACE"}
    assert [t.output for t in run.tasks[1:3]] == [
        {"ok": True, "user": {"id": "U_ALICE", "team_id": "T0AUTHWARD", "name": "u_alice"}},
        {
            "ok": True,
            "channels": [
                {"id": "C01234567", "name": "c01234567", "is_channel": True},
                {"id": "C0GENERAL", "name": "c0general", "is_channel": True},
            ],
            "response_metadata": {"next_cursor": ""},
        },
    ]
    assert elsewhere.requests == []  # a resolver's base_url may not carry the token off
    assert run.error is not None
    assert run.error.startswith(
        "task '🧭' failed after 1 attempt: steered-slack: the auth resolver's "
        f"additional_fields['base_url'] {elsewhere_url!r} is not a Slack API host"
    )
    await assert_no_token(runtime, [run_id], caplog)


async def test_a_token_argument_is_refused_and_method_names_cannot_leave_the_api(
    runtime: Authward, peer: SlackPeer
) -> None:
    client = JobClient(id="app")
    our_slack = Slack(id="our-slack", token=OUR_TOKEN, base_url=peer.api_url)

    @post_a_message(client, {"slack": our_slack})
    async def job(payload: Message, io: Io, ctx: RunContext) -> list[str]:
        refused = []
        try:
            await io.slack.post_message("a", channel="C0GENERAL", text="x", token=ALICE_TOKEN)
        except ValueError as exc:
            refused.append(str(exc))
        try:
            await io.slack.api_call("b", "https://evil.example/api/steal")
        except ValueError as exc:
            refused.append(str(exc))
        pinned = await io.slack.api_call("c", "auth.test")
        return [*refused, pinned["user_id"]]

    await bind(runtime, client)
    run = await wait_for(runtime, await send(client))

    assert run.status == "succeeded", run.error
    assert run.output == [
        "post_message: do not pass token=; the credential comes from the integration's auth "
        "resolver, its token= or the developer's connection",
        "api_call: 'https://evil.example/api/steal' is not a Slack Web API method name",
        "U_OURBOT",
    ]
    assert [(r.api_method, r.authorization) for r in peer.requests] == [
        ("auth.test", f"Bearer {OUR_TOKEN}")
    ]


async def test_the_developers_vault_connection_is_used_and_marked_broken_when_slack_refuses_it(
    runtime: Authward, peer: SlackPeer, caplog: pytest.LogCaptureFixture
) -> None:
    await runtime.connections.store(
        "",
        "oauth_slack",
        TokenSet(
            access_token=VAULT_TOKEN,
            refresh_token=None,
            token_type="Bearer",
            expires_at=None,
            scopes=("chat:write",),
        ),
        kind="developer",
    )
    client = JobClient(id="app")
    our_slack = Slack(id="our-slack", base_url=peer.api_url)  # no token=: the vault's

    @post_a_message(client, {"slack": our_slack}, retry=RetryPolicy(limit=3, min_seconds=0))
    async def job(payload: Message, io: Io, ctx: RunContext) -> None:
        await io.slack.post_message("📢", channel=payload.channel, text=payload.text)

    await bind(runtime, client)
    posted = await wait_for(runtime, await send(client, text="from the vault"))
    peer.revoked.add(VAULT_TOKEN)  # revoked at Slack, unknown to authward
    refused = await wait_for(runtime, await send(client, text="refused"))

    assert posted.status == "succeeded", posted.error
    task = posted.tasks[0]
    assert (task.integration, task.credential_source, task.credential_account) == (
        "our-slack",
        "developer",
        None,
    )
    assert refused.status == "failed"
    assert refused.error == (
        "task '📢' failed after 1 attempt: our-slack chat.postMessage: the provider refused "
        "the credential of the developer (token_revoked); the account must reconnect or the "
        "resolver return a valid token"
    )
    (connection,) = await runtime.connections.list()
    assert connection.status == "broken"
    assert connection.broken_reason is not None
    assert "token_revoked" in connection.broken_reason

    # Until the developer stores a new token, runs fail without sending the refused one again.
    blocked = await wait_for(runtime, await send(client, text="blocked"))
    assert blocked.status == "failed"
    assert blocked.error == (
        "Unresolved auth for integration 'our-slack' (account none): the oauth_slack connection "
        "of the developer is broken (our-slack chat.postMessage: the provider refused the "
        "credential of the developer (token_revoked); the account must reconnect or the "
        "resolver return a valid token): store a new one with `authward connection add-developer`"
    )
    assert [(t.key, t.status) for t in blocked.tasks] == [("📢", "failed")]
    assert [r.authorization for r in peer.calls("chat.postMessage")] == [
        f"Bearer {VAULT_TOKEN}",
        f"Bearer {VAULT_TOKEN}",
    ]
    await assert_no_token(runtime, [posted.id, refused.id, blocked.id], caplog)
