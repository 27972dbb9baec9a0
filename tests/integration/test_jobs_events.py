"""Event jobs end to end on SQLite and PostgreSQL: account ids, schemas, deduplication, and who
a run acts as (ctx.user)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from pydantic import BaseModel

from authward.config.auth import Invoker
from authward.errors import ConfigError
from authward.jobs import EventRejected, Io, JobClient, JobsNotBound, RunContext, event_trigger
from authward.principal import Principal, current_principal, use_principal
from authward.runtime import Authward
from tests.integration.jobs_support import bind, table_count, wait_for


class PostCreated(BaseModel):
    id: str
    words: int = 0


def post_client(seen: list[RunContext]) -> JobClient:
    client = JobClient(id="app")

    @client.job(
        id="post-created",
        name="Post created",
        version="1.2.0",
        trigger=event_trigger(name="post.created", schema=PostCreated),
    )
    async def post_created(payload: PostCreated, io: Io, ctx: RunContext) -> dict[str, Any]:
        seen.append(ctx)
        await io.logger.info("got post", {"id": payload.id})
        words = await io.run_task("count", lambda: payload.words * 2)
        return {"id": payload.id, "words": words, "principal": current_principal() == ctx.user}

    return client


async def test_event_run_carries_the_account_id_end_to_end(runtime: Authward) -> None:
    seen: list[RunContext] = []
    client = post_client(seen)
    await bind(runtime, client)

    sent = await client.send_event(
        {"name": "post.created", "payload": {"id": "post_123", "words": "21"}, "id": "e-1"},
        account_id="user_123",
    )

    assert sent.id == "e-1"
    assert len(sent.run_ids) == 1
    assert not sent.duplicate
    run = await wait_for(runtime, sent.run_ids[0])
    assert run.status == "succeeded", run.error
    assert run.output == {"id": "post_123", "words": 42, "principal": True}
    assert run.account_id == "user_123"
    assert (run.job_id, run.job_version, run.event_name, run.event_id) == (
        "post-created",
        "1.2.0",
        "post.created",
        "e-1",
    )
    assert run.payload == {"id": "post_123", "words": 21}  # validated and normalised
    assert [(t.key, t.status, t.output) for t in run.tasks] == [("count", "succeeded", 42)]
    assert [(entry.level, entry.message, entry.data) for entry in run.logs] == [
        ("info", "got post", {"id": "post_123"})
    ]
    assert run.duration_ms is not None
    assert run.duration_ms >= 0
    ctx = seen[0]
    assert ctx.id == run.id
    assert ctx.account is not None
    assert ctx.account.id == "user_123"
    assert (ctx.job.id, ctx.job.version, ctx.event.name) == (
        "post-created",
        "1.2.0",
        "post.created",
    )
    assert ctx.environment == "development"
    assert ctx.user is None

    listed = await runtime.jobs.list_runs(account_id="user_123")
    assert [r.id for r in listed] == [run.id]
    assert await runtime.jobs.list_runs(account_id="someone-else") == []


async def test_payload_failing_the_schema_is_refused_and_nothing_is_stored(
    runtime: Authward,
) -> None:
    client = post_client([])
    await bind(runtime, client)

    with pytest.raises(EventRejected) as refused:
        await client.send_event({"name": "post.created", "payload": {"words": "many"}})

    fields = sorted(tuple(e["loc"]) for e in refused.value.errors)
    assert fields == [("id",), ("words",)]
    assert "post-created" in str(refused.value)
    assert refused.value.code == "invalid_event"
    assert await table_count(runtime, "aw_job_runs") == 0
    assert await table_count(runtime, "aw_job_events") == 0


async def test_same_event_id_twice_starts_its_runs_once(runtime: Authward) -> None:
    client = post_client([])
    await bind(runtime, client)
    event = {"name": "post.created", "payload": {"id": "p"}, "id": "evt-dedup"}

    first = await client.send_event(event, account_id="user_1")
    second = await client.send_event(event, account_id="user_1")

    assert second.duplicate
    assert second.run_ids == first.run_ids
    await wait_for(runtime, first.run_ids[0])
    assert len(await runtime.jobs.list_runs()) == 1


async def test_an_event_nobody_listens_to_starts_nothing_and_is_not_an_error(
    runtime: Authward, caplog: pytest.LogCaptureFixture
) -> None:
    client = post_client([])
    await bind(runtime, client)

    with caplog.at_level(logging.WARNING, logger="authward.jobs"):
        sent = await client.send_event({"name": "post.deleted", "payload": {"id": "p"}, "id": "x"})
        await client.send_event({"name": "post.deleted", "payload": {"id": "q"}})

    # A mistyped name is found in the log, once per name, with the names jobs listen to.
    assert [r.getMessage() for r in caplog.records] == [
        "event 'post.deleted': no job listens to it; it is stored and starts nothing "
        "(events jobs listen to: post.created)"
    ]

    assert sent.run_ids == ()
    assert not sent.duplicate
    assert await table_count(runtime, "aw_job_runs") == 0
    # Stored all the same, so the id still deduplicates once a job listens to it.
    assert (await client.send_event({"name": "post.deleted", "id": "x"})).duplicate


async def test_malformed_events_are_refused(runtime: Authward) -> None:
    client = post_client([])
    await bind(runtime, client)
    bad: list[Any] = [
        {"payload": {}},
        {"name": "post.created", "payload": {"id": "p"}, "acount_id": "typo"},
        {"name": "post.created", "payload": {"id": "p"}, "timestamp": "yesterday"},
        {"name": "x", "payload": {"when": object()}},
    ]
    for event in bad:
        with pytest.raises(EventRejected):
            await client.send_event(event)
    with pytest.raises(EventRejected, match="account_id"):
        await client.send_event({"name": "post.created", "payload": {"id": "p"}}, account_id="")
    assert await table_count(runtime, "aw_job_runs") == 0


async def test_sending_before_the_client_is_bound_says_what_to_do() -> None:
    client = post_client([])
    with pytest.raises(JobsNotBound, match="authward worker"):
        await client.send_event({"name": "post.created", "payload": {"id": "p"}})
    with pytest.raises(JobsNotBound):
        await client.jobs["post-created"].trigger({"id": "p"})


def invoker_client(seen: list[RunContext]) -> JobClient:
    client = JobClient(id="workflows")

    @client.job(id="my-workflow", name="W", version="1", trigger=event_trigger(name="wf"))
    async def workflow(payload: Any, io: Io, ctx: RunContext) -> str | None:
        seen.append(ctx)
        # The run's principal is the current one inside it: agent tools see who acts.
        assert current_principal() == ctx.user
        return ctx.user.subject if ctx.user else None

    return client


async def test_auth_invoker_runs_as_the_machine_user(runtime: Authward) -> None:
    seen: list[RunContext] = []
    client = invoker_client(seen)
    await bind(runtime, client)
    auth = runtime.config.auth

    run_id = await client.jobs["my-workflow"].trigger(
        {"id": 1}, auth_invoker=auth.invoker("admin-machine-user"), account_id="acct-9"
    )

    run = await wait_for(runtime, run_id)
    assert run.status == "succeeded", run.error
    token = await runtime.machine_user_token("admin-machine-user")
    as_token = await runtime.verify_access_token(token)
    user = seen[0].user
    assert user == as_token  # the same principal a token of that machine user verifies to
    assert user is not None
    assert user.principal_type == "machine"
    assert user.attributes["role"] == "ADMIN"
    assert run.invoker == "machine-user:admin-machine-user"
    assert run.account_id == "acct-9"
    assert run.event_name == "invoke"
    assert run.output == user.subject


async def test_the_senders_principal_becomes_ctx_user_and_survives_a_resume(
    runtime: Authward,
) -> None:
    seen: list[RunContext] = []
    client = JobClient(id="c")
    paused = asyncio.Event()

    @client.job(id="acts", name="A", version="1", trigger=event_trigger(name="acts"))
    async def acts(payload: Any, io: Io, ctx: RunContext) -> None:
        seen.append(ctx)
        await io.run_task("first", lambda: "done once")
        if ctx.attempt == 1 and ctx.user is not None:
            paused.set()
            await asyncio.Event().wait()  # interrupted by the stop below

    jobs = await bind(runtime, client)
    principal = Principal(
        authenticator="authward",
        principal_type="user",
        principal_id="u-1",
        subject="u-1",
        attributes={"role": "USER", "teams": ["a", "b"]},
        attribute_list=("550e8400-e29b-41d4-a716-446655440000",),
    )
    with use_principal(principal):  # what a request handler behind the auth middleware has
        sent = await client.send_event({"name": "acts"})
    anonymous = await client.send_event({"name": "acts"})
    await paused.wait()
    await jobs.stop()  # the run goes back to the queue; the next execution reloads the user
    await jobs.start()

    run = await wait_for(runtime, sent.run_ids[0])
    await wait_for(runtime, anonymous.run_ids[0])
    assert run.status == "succeeded"
    assert run.invoker == "user:u-1"
    mine = [c for c in seen if c.id == run.id]
    assert [c.attempt for c in mine] == [1, 2]
    assert all(c.user == principal for c in mine)
    assert all(c.user is None for c in seen if c.id == anonymous.run_ids[0])


async def test_an_invoker_of_another_auth_is_refused(runtime: Authward) -> None:
    client = invoker_client([])
    await bind(runtime, client)
    with pytest.raises(ConfigError, match="auth_invoker"):
        await client.jobs["my-workflow"].trigger({}, auth_invoker=Invoker("other", "x"))
    assert await table_count(runtime, "aw_job_runs") == 0
