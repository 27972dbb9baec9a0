"""Dynamic triggers end to end, as in the seed's "Webhook Triggers": a job registers a GitHub
webhook per account (through the account's resolved token), GitHub (tests/peers/github_api.py)
delivers a signed ``issues``/``opened`` event to authward over HTTP, and the listening job's run
carries that account and comments with exactly that account's token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy
from sqlalchemy import text

from authward.errors import ConfigError
from authward.integrations import CredentialRejected
from authward.integrations.github import Github, events
from authward.jobs import (
    AuthResolverResult,
    Integration,
    Io,
    JobClient,
    RunContext,
    UnresolvedAuthError,
    event_trigger,
)
from authward.jobs.dynamic_trigger import DynamicTrigger
from authward.runtime import Authward
from authward.server.app import build_app
from authward.server.webhooks import MAX_BODY_BYTES
from tests.integration.jobs_support import bind, table_count, wait_for
from tests.peers import free_port
from tests.peers.asgi import serve_asgi
from tests.peers.github_api import GithubPeer, Hook

TOKENS = {"user_alice": "gho_alice_token_1", "user_bob": "gho_bob_token_2"}


@dataclass
class World:
    aw: Authward
    github: GithubPeer
    trigger: DynamicTrigger
    issuer: str
    github_url: str


def make_client(api_url: str) -> tuple[JobClient, DynamicTrigger]:
    client = JobClient(id="byo-github")
    github = Github(id="github", base_url=api_url)
    on_issue_opened = client.define_dynamic_trigger(
        id="github-issue-opened", event=events.on_issue_opened, source=github.sources.repo
    )

    @client.auth_resolver(github)
    async def resolve(ctx: RunContext, integration: Integration) -> AuthResolverResult | None:
        if ctx.account is None or ctx.account.id not in TOKENS:
            return None
        return AuthResolverResult(type="oauth", token=TOKENS[ctx.account.id])

    @client.job(
        id="listen-for-dynamic-trigger",
        name="Listen for dynamic trigger",
        version="0.1.1",
        trigger=on_issue_opened,
        integrations={"github": github},
    )
    async def listen(payload: Any, io: Io, ctx: RunContext) -> Any:
        comment = await io.github.issues.create_comment(
            "create-issue-comment",
            owner=payload["repository"]["owner"]["login"],
            repo=payload["repository"]["name"],
            issue_number=payload["issue"]["number"],
            body="First! 🥇",
        )
        return {"comment": comment["id"]}

    @client.job(
        id="register-issue-opened",
        name="Register Issue Opened for Account",
        version="0.0.1",
        trigger=event_trigger(name="register.issue.opened"),
    )
    async def register(payload: Any, io: Io, ctx: RunContext) -> Any:
        return await on_issue_opened.register(
            payload["id"],
            {"owner": payload["owner"], "repo": payload["repo"]},
            account_id=payload["account_id"],
        )

    return client, on_issue_opened


@pytest.fixture
async def world(database_url: str, settings_for: Any, example_config: Any) -> AsyncIterator[World]:
    github = GithubPeer({token: account for account, token in TOKENS.items()})
    async with serve_asgi(github.app()) as api_url:
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        # A long refresh interval: what a test sees must not depend on how fast it runs.
        aw = await Authward.open(
            example_config,
            settings_for(database_url, issuer=issuer, cache_refresh_seconds=300),
            migrate=True,
        )
        try:
            client, trigger = make_client(api_url)
            await bind(aw, client)
            async with serve_asgi(build_app(aw), port=port):
                yield World(aw, github, trigger, issuer, api_url)
        finally:
            await aw.close()


async def register_in_run(w: World, key: str, owner: str, repo: str, account: str) -> Any:
    sent = await w.aw.jobs.send_event(
        {
            "name": "register.issue.opened",
            "payload": {"id": key, "owner": owner, "repo": repo, "account_id": account},
        }
    )
    return await wait_for(w.aw, sent.run_ids[0])


def hook_for(w: World, registration_id: str) -> Hook:
    (hook,) = [h for h in w.github.hooks.values() if h.url.endswith(f"/{registration_id}")]
    return hook


async def listen_runs(w: World) -> list[Any]:
    return await w.aw.jobs.list_runs(job_id="listen-for-dynamic-trigger")


async def test_the_seeds_flow_registers_per_account_and_comments_with_that_accounts_token(
    world: World,
) -> None:
    w = world
    alice = await register_in_run(w, "reg_alice", "acme", "widgets", "user_alice")
    bob = await register_in_run(w, "reg_bob", "bobco", "tools", "user_bob")
    for run, account in ((alice, "user_alice"), (bob, "user_bob")):
        assert run.status == "succeeded", run.error
        (task,) = run.tasks
        # "a task in this run with the payload.id as the Task Key"
        assert task.key == ("reg_alice" if account == "user_alice" else "reg_bob")
        assert (task.integration, task.credential_source, task.credential_account) == (
            "github",
            "resolver",
            account,
        )
        assert run.output["account_id"] == account

    # GitHub got one hook per registration, pointed at our URL, with its own strong secret,
    # created with the token of the registration's account.
    a_hook = hook_for(w, alice.output["registration_id"])
    b_hook = hook_for(w, bob.output["registration_id"])
    assert a_hook.url == f"{w.issuer}/webhooks/{alice.output['registration_id']}"
    assert alice.output["url"] == a_hook.url
    assert (a_hook.owner, a_hook.repo, b_hook.owner, b_hook.repo) == (
        "acme",
        "widgets",
        "bobco",
        "tools",
    )
    assert a_hook.config["content_type"] == "json"
    assert a_hook.config["insecure_ssl"] == "0"
    assert a_hook.events == ["issues"]
    assert a_hook.active
    assert len(a_hook.secret) == 64
    assert int(a_hook.secret, 16) >= 0
    assert a_hook.secret != b_hook.secret
    assert (a_hook.created_by, b_hook.created_by) == ("user_alice", "user_bob")
    hooks_calls = [c for c in w.github.requests if c.path.endswith("/hooks")]
    assert [c.authorization for c in hooks_calls] == [
        "token gho_alice_token_1",
        "token gho_bob_token_2",
    ]
    # The secret is sealed at rest, and no answer hands it out.
    async with w.aw.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT secret FROM aw_webhook_registrations"))).all()
    assert len(stored) == 2
    assert all(a_hook.secret.encode() not in bytes(row[0]) for row in stored)
    assert a_hook.secret not in json.dumps(alice.output)

    # GitHub delivers "issue opened" on alice's repository.
    payload = w.github.issue_opened_payload("acme", "widgets", 42)
    answer = await w.github.deliver(a_hook, "issues", payload)
    assert answer.status_code == 202, answer.text
    (run_id,) = answer.json()["run_ids"]
    run = await wait_for(w.aw, run_id)
    assert run.status == "succeeded", run.error
    assert run.account_id == "user_alice"
    assert run.event_name == "github issues.opened"
    assert run.event_id is not None
    assert len(run.event_id) == 36
    assert run.payload == payload
    (task,) = run.tasks
    assert (task.credential_source, task.credential_account) == ("resolver", "user_alice")
    (comment,) = w.github.comments
    assert (comment["owner"], comment["repo"], comment["number"], comment["body"]) == (
        "acme",
        "widgets",
        42,
        "First! 🥇",
    )
    (call,) = w.github.calls("/comments")
    assert call.authorization == "token gho_alice_token_1"

    # Bob's delivery runs as bob, on bob's repository, with bob's token.
    answer = await w.github.deliver(
        b_hook, "issues", w.github.issue_opened_payload("bobco", "tools", 3)
    )
    assert answer.status_code == 202
    run = await wait_for(w.aw, answer.json()["run_ids"][0])
    assert run.status == "succeeded"
    assert run.account_id == "user_bob"
    assert w.github.calls("/comments")[-1].authorization == "token gho_bob_token_2"
    assert w.github.calls("/comments")[-1].path == "/repos/bobco/tools/issues/3/comments"


async def test_forged_unsigned_replayed_unknown_and_other_deliveries_start_nothing(
    world: World,
) -> None:
    w = world
    info = await w.trigger.register(
        "reg_1", {"owner": "acme", "repo": "widgets"}, account_id="user_alice"
    )
    hook = hook_for(w, info["registration_id"])
    payload = w.github.issue_opened_payload("acme", "widgets", 1)

    forged = await w.github.deliver(hook, "issues", payload, secret="not-the-secret")
    assert forged.status_code == 401
    assert forged.json() == {"error": "invalid_signature"}
    unsigned = await w.github.deliver(hook, "issues", payload, signed=False)
    assert unsigned.status_code == 401
    # A signature over another body does not carry over.
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "d-1",
        **w.github.sign(hook.secret, body + b" "),
    }
    async with httpx.AsyncClient() as http:
        tampered = await http.post(hook.url, content=body, headers=headers)
        assert tampered.status_code == 401
        unknown = await http.post(
            f"{w.issuer}/webhooks/whr_{'0' * 32}",
            content=body,
            headers={**headers, **w.github.sign(hook.secret, body)},
        )
        assert unknown.status_code == 404
        assert unknown.json() == {"error": "unknown_registration"}
        bad_json = b'{"action": "opened", '
        malformed = await http.post(
            hook.url, content=bad_json, headers={**headers, **w.github.sign(hook.secret, bad_json)}
        )
        assert malformed.status_code == 400
        assert malformed.json() == {"error": "malformed_json"}
        huge = b"{" + b" " * MAX_BODY_BYTES + b"}"
        too_large = await http.post(
            hook.url, content=huge, headers={**headers, **w.github.sign(hook.secret, huge)}
        )
        assert too_large.status_code == 413
    assert await listen_runs(w) == []

    # Events the trigger does not listen to are acknowledged and start nothing.
    closed = payload | {"action": "closed"}
    for event, body_json in (("issues", closed), ("ping", {"zen": "Keep it simple."})):
        answer = await w.github.deliver(hook, event, body_json)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ignored", "event": event}
    assert await listen_runs(w) == []

    # The same delivery id twice (GitHub's "Redeliver", or a replay): one run.
    first = await w.github.deliver(hook, "issues", payload, delivery_id="72d3162e-cc78-11e3")
    assert first.status_code == 202
    again = await w.github.deliver(hook, "issues", payload, delivery_id="72d3162e-cc78-11e3")
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "run_ids": first.json()["run_ids"]}
    assert len(await listen_runs(w)) == 1
    assert await table_count(w.aw, "aw_webhook_deliveries") == 1


async def test_unregister_deletes_the_hook_and_later_deliveries_are_refused(
    world: World,
) -> None:
    w = world
    info = await w.trigger.register(
        "reg_1", {"owner": "acme", "repo": "widgets"}, account_id="user_bob"
    )
    hook = hook_for(w, info["registration_id"])
    assert [r["key"] for r in await w.trigger.list()] == ["reg_1"]

    assert await w.trigger.unregister("reg_1") is True
    assert w.github.hooks == {}
    (delete,) = w.github.calls("/hooks/", method="DELETE")
    assert delete.path == f"/repos/acme/widgets/hooks/{hook.id}"
    assert delete.authorization == "token gho_bob_token_2"
    assert await w.trigger.list() == []
    late = await w.github.deliver(
        hook, "issues", w.github.issue_opened_payload("acme", "widgets", 1)
    )
    assert late.status_code == 404
    assert await listen_runs(w) == []
    assert await w.trigger.unregister("reg_1") is False


async def test_registering_a_key_again_replaces_its_hook(world: World) -> None:
    w = world
    first = await w.trigger.register(
        "reg_1", {"owner": "acme", "repo": "widgets"}, account_id="user_alice"
    )
    old_hook = hook_for(w, first["registration_id"])
    second = await w.trigger.register(
        "reg_1", {"owner": "acme", "repo": "gadgets"}, account_id="user_bob"
    )
    assert second["replaced"] == {"registration_id": first["registration_id"], "hook_deleted": True}
    new_hook = hook_for(w, second["registration_id"])
    assert list(w.github.hooks) == [new_hook.id]
    assert (new_hook.repo, new_hook.created_by) == ("gadgets", "user_bob")
    # The old hook was deleted with the old registration's account's token.
    (delete,) = w.github.calls("/hooks/", method="DELETE")
    assert delete.authorization == "token gho_alice_token_1"

    stale = await w.github.deliver(
        old_hook, "issues", w.github.issue_opened_payload("acme", "widgets", 1)
    )
    assert stale.status_code == 404
    fresh = await w.github.deliver(
        new_hook, "issues", w.github.issue_opened_payload("acme", "gadgets", 2)
    )
    assert fresh.status_code == 202
    run = await wait_for(w.aw, fresh.json()["run_ids"][0])
    assert run.status == "succeeded"
    assert run.account_id == "user_bob"


async def test_a_registration_without_credentials_or_refused_by_github_writes_nothing(
    world: World,
) -> None:
    w = world
    with pytest.raises(UnresolvedAuthError) as unresolved:
        await w.trigger.register(
            "reg_x", {"owner": "acme", "repo": "widgets"}, account_id="user_nobody"
        )
    assert "Unresolved auth for integration 'github' (account 'user_nobody')" in str(
        unresolved.value
    )
    run = await register_in_run(w, "reg_y", "acme", "widgets", "user_nobody")
    assert run.status == "failed"
    assert "Unresolved auth for integration 'github' (account 'user_nobody')" in (run.error or "")
    assert run.tasks[0].key == "reg_y"
    assert run.tasks[0].status == "failed"

    del w.github.tokens[TOKENS["user_alice"]]  # revoked at GitHub
    with pytest.raises(CredentialRejected) as refused:
        await w.trigger.register(
            "reg_z", {"owner": "acme", "repo": "widgets"}, account_id="user_alice"
        )
    assert "refused the credential of account 'user_alice'" in str(refused.value)
    assert TOKENS["user_alice"] not in str(refused.value)

    assert w.github.hooks == {}
    assert await table_count(w.aw, "aw_webhook_registrations") == 0


async def test_a_cached_registration_unregistered_here_or_by_another_process_answers_404(
    world: World, database_url: str, settings_for: Any, example_config: Any
) -> None:
    w = world
    payload = w.github.issue_opened_payload("acme", "widgets", 1)
    here = await w.trigger.register(
        "reg_here", {"owner": "acme", "repo": "widgets"}, account_id="user_alice"
    )
    there = await w.trigger.register(
        "reg_there", {"owner": "acme", "repo": "widgets"}, account_id="user_bob"
    )
    here_hook = hook_for(w, here["registration_id"])
    there_hook = hook_for(w, there["registration_id"])
    # Both registrations are now in this process's memory.
    assert (await w.github.deliver(here_hook, "issues", payload)).status_code == 202
    assert (await w.github.deliver(there_hook, "issues", payload)).status_code == 202
    started = len(await listen_runs(w))

    # This process forgets what it unregisters at once.
    assert await w.trigger.unregister("reg_here") is True
    assert (await w.github.deliver(here_hook, "issues", payload)).status_code == 404

    # Another process unregisters: this one still holds the row, and the delivery's foreign key
    # refuses it. A long refresh interval keeps the entry cached for the whole test.
    other = await Authward.open(
        example_config, settings_for(database_url, issuer=w.issuer), migrate=False
    )
    try:
        other_client, other_trigger = make_client(w.github_url)
        await bind(other, other_client, worker=False)
        assert await other_trigger.unregister("reg_there") is True
    finally:
        await other.close()
    late = await w.github.deliver(there_hook, "issues", payload)
    assert (late.status_code, late.json()) == (404, {"error": "unknown_registration"})
    assert len(await listen_runs(w)) == started


async def test_nan_or_infinity_in_a_signed_body_is_malformed_json(world: World) -> None:
    w = world
    info = await w.trigger.register(
        "reg_1", {"owner": "acme", "repo": "widgets"}, account_id="user_alice"
    )
    hook = hook_for(w, info["registration_id"])
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'{"action": "opened", "issue": {"number": ' + constant + b"}}"
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": f"d-{constant.decode()}",
            **w.github.sign(hook.secret, body),
        }
        async with httpx.AsyncClient() as http:
            answer = await http.post(hook.url, content=body, headers=headers)
        assert (answer.status_code, answer.json()) == (400, {"error": "malformed_json"})
    assert await listen_runs(w) == []


async def test_concurrent_deliveries_to_an_uncached_registration_read_it_once(
    world: World,
) -> None:
    w = world
    info = await w.trigger.register(
        "reg_1", {"owner": "acme", "repo": "widgets"}, account_id="user_alice"
    )
    webhooks = w.aw.jobs.webhooks
    webhooks.forget(info["registration_id"])
    reads: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM aw_webhook_registrations" in statement:
            reads.append(statement)

    engine = w.aw.engine.sync_engine
    sqlalchemy.event.listen(engine, "before_cursor_execute", count)
    try:
        targets = await asyncio.gather(
            *(webhooks.for_delivery(info["registration_id"]) for _ in range(8))
        )
        again = await webhooks.for_delivery(info["registration_id"])
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", count)
    assert len(reads) == 1
    assert {t.registration.id for t in targets if t is not None} == {info["registration_id"]}
    assert again is targets[0]


async def test_an_account_id_with_nul_registers_nothing(world: World) -> None:
    # PostgreSQL cannot store a NUL: refused with the other account-id rules, before any hook.
    with pytest.raises(ConfigError, match="NUL"):
        await world.trigger.register(
            "reg_nul", {"owner": "acme", "repo": "widgets"}, account_id="user\x00"
        )
    assert not world.github.hooks
