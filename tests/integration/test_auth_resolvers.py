"""Auth resolvers and credential lineage, through real runs, with a provider-neutral integration
(Slack and GitHub, on their real SDKs, have their own tests)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from authward.errors import ConfigError
from authward.integrations import (
    AuthResolverResult,
    Calls,
    Credentials,
    IntegrationBase,
    ProviderError,
)
from authward.jobs import Io, JobClient, RetryPolicy, RunContext, event_trigger
from authward.runtime import Authward
from tests.integration.jobs_support import FakeClock, bind, wait_for, wait_until


class Echo(IntegrationBase):
    """Answers each call with what it was given; ``failures`` are raised first, in order."""

    provider = "echo"

    def __init__(self, id: str, **options: Any) -> None:
        super().__init__(id=id, **options)
        self.seen: list[Credentials] = []
        self.failures: list[Exception] = []

    def namespace(self, calls: Calls) -> Any:
        integration = self

        class Namespace:
            async def send(self, key: str, text: str) -> Any:
                async def request(credentials: Credentials) -> dict[str, Any]:
                    integration.seen.append(credentials)
                    if integration.failures:
                        raise integration.failures.pop(0)
                    return {"text": text, "fields": dict(credentials.additional_fields)}

                return await calls.call(key, "send", request)

        return Namespace()


def job_on(client: JobClient, job_id: str, **integrations: Echo) -> Callable[[Any], Any]:
    return client.job(
        id=job_id,
        name=job_id,
        version="1",
        trigger=event_trigger(name=job_id),
        integrations=integrations,
        retry=RetryPolicy(limit=3, min_seconds=1),
    )


async def start(client: JobClient, name: str, account_id: str | None) -> str:
    sent = await client.send_event({"name": name, "payload": {}}, account_id=account_id)
    return sent.run_ids[0]


async def test_each_account_gets_its_own_credential_resolved_once_per_run(
    runtime: Authward,
) -> None:
    client = JobClient(id="c")
    byo = Echo("byo-echo")
    calls: list[tuple[str | None, str]] = []
    tokens = {"user_1": "tok-user-1", "user_2": "tok-user-2"}

    @client.auth_resolver(byo)
    async def resolve(ctx: RunContext, integration: Any) -> AuthResolverResult | None:
        calls.append((ctx.account.id if ctx.account else None, integration.id))
        if ctx.account is None:
            return None
        return AuthResolverResult(
            type="oauth", token=tokens[ctx.account.id], additional_fields={"shop": ctx.account.id}
        )

    @job_on(client, "post", echo=byo)
    async def post(payload: Any, io: Io, ctx: RunContext) -> Any:
        return [await io.echo.send(f"m{i}", f"hello {i}") for i in range(3)]

    await bind(runtime, client)
    first = await wait_for(runtime, await start(client, "post", "user_1"))
    second = await wait_for(runtime, await start(client, "post", "user_2"))

    assert first.status == second.status == "succeeded"
    assert [c.token for c in byo.seen] == ["tok-user-1"] * 3 + ["tok-user-2"] * 3
    assert first.output[0]["fields"] == {"shop": "user_1"}  # additional_fields reach the call
    assert calls == [("user_1", "byo-echo"), ("user_2", "byo-echo")]  # once per run
    assert {(t.integration, t.credential_source, t.credential_account) for t in first.tasks} == {
        ("byo-echo", "resolver", "user_1")
    }
    assert "tok-user-1" not in repr(first)


async def test_unresolved_auth_fails_the_run_before_any_request(runtime: Authward) -> None:
    client = JobClient(id="c")
    byo = Echo("byo-echo")

    @client.auth_resolver(byo)
    async def resolve(ctx: RunContext, integration: Any) -> AuthResolverResult | None:
        if ctx.account is None:
            return None
        raise RuntimeError(f"no Slack auth for account {ctx.account.id}")

    @job_on(client, "post", echo=byo)
    async def post(payload: Any, io: Io, ctx: RunContext) -> Any:
        return await io.echo.send("💬", "hello")

    await bind(runtime, client)
    nobody = await wait_for(runtime, await start(client, "post", None))
    raised = await wait_for(runtime, await start(client, "post", "user_9"))

    assert byo.seen == []
    assert nobody.status == raised.status == "failed"
    assert nobody.error == (
        "Unresolved auth for integration 'byo-echo' (account none): the auth resolver returned None"
    )
    assert raised.error is not None
    assert "Unresolved auth for integration 'byo-echo' (account 'user_9')" in raised.error
    assert "RuntimeError: no Slack auth for account user_9" in raised.error
    # The call that could not be made is on the timeline, failed, with its integration.
    [task] = raised.tasks
    assert (task.key, task.status, task.integration) == ("💬", "failed", "byo-echo")
    assert task.credential_source is None


async def test_a_resolver_answer_of_the_wrong_shape_is_refused_clearly(runtime: Authward) -> None:
    client = JobClient(id="c")
    plain, mapped = Echo("plain"), Echo("mapped")

    async def wrong(ctx: RunContext, integration: Any) -> Any:
        return "just-a-token"

    async def as_mapping(ctx: RunContext, integration: Any) -> Any:
        return {"type": "apiKey", "token": "k-1", "additionalFields": {"shop": "s"}}

    client.define_auth_resolver(plain, wrong)
    client.define_auth_resolver(mapped, as_mapping)

    @job_on(client, "post", plain=plain, mapped=mapped)
    async def post(payload: Any, io: Io, ctx: RunContext) -> Any:
        out = await io.mapped.send("a", "x")
        await io.plain.send("b", "y")
        return out

    await bind(runtime, client)
    run = await wait_for(runtime, await start(client, "post", "user_1"))

    assert [c.token for c in mapped.seen] == ["k-1"]  # the seed's plain-object form works
    assert run.status == "failed"
    assert run.error == (
        "Unresolved auth for integration 'plain' (account 'user_1'): the auth resolver returned "
        "a str; return AuthResolverResult(type=..., token=...) or None"
    )


async def test_without_a_resolver_the_developer_credential_is_used_or_the_run_fails(
    runtime: Authward,
) -> None:
    client = JobClient(id="c")
    ours, none = Echo("our-echo", token="dev-token"), Echo("no-echo")

    @job_on(client, "post", ours=ours, none=none)
    async def post(payload: Any, io: Io, ctx: RunContext) -> Any:
        await io.ours.send("ours", "x")
        await io.none.send("none", "y")

    await bind(runtime, client)
    run = await wait_for(runtime, await start(client, "post", "user_1"))

    assert [(c.token, c.source, c.account_id) for c in ours.seen] == [
        ("dev-token", "developer", None)
    ]
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.startswith("Unresolved auth for integration 'no-echo' (account 'user_1'): ")
    assert "dev-token" not in repr(run)


async def test_provider_errors_retry_after_their_delay_or_fail_at_once(runtime: Authward) -> None:
    clock = FakeClock()
    client = JobClient(id="c")
    limited, refused = Echo("limited", token="t"), Echo("refused", token="t")
    limited.failures.append(
        ProviderError("limited", "send", "ratelimited", status=429, retry_after=42)
    )
    refused.failures.append(ProviderError("refused", "send", "channel_not_found", status=404))

    @job_on(client, "limited", echo=limited)
    async def limited_job(payload: Any, io: Io, ctx: RunContext) -> Any:
        return await io.echo.send("m", "x")

    @job_on(client, "refused", echo=refused)
    async def refused_job(payload: Any, io: Io, ctx: RunContext) -> Any:
        return await io.echo.send("m", "x")

    await bind(runtime, client, clock=clock)
    waiting = await wait_until(
        runtime, await start(client, "limited", None), lambda r: r.status == "waiting"
    )
    gave_up = await wait_for(runtime, await start(client, "refused", None))

    # 429: the next attempt is due when Retry-After says, not after the policy's 1 s.
    assert waiting.resume_at == clock.now + timedelta(seconds=42)
    clock.advance(42)
    runtime.jobs.wake()
    done = await wait_for(runtime, waiting.id)
    assert done.status == "succeeded"
    assert done.tasks[0].attempts == 2
    # 404: not retried although the policy allows three attempts.
    assert gave_up.status == "failed"
    assert gave_up.tasks[0].attempts == 1
    assert gave_up.error == (
        "task 'm' failed after 1 attempt: refused send failed (HTTP 404): channel_not_found"
    )


def test_resolver_definition_mistakes_are_refused_at_load_time() -> None:
    client = JobClient(id="c")
    slack = Echo("byo-slack")

    async def resolve(ctx: RunContext, integration: Any) -> None:
        return None

    def not_async(ctx: RunContext, integration: Any) -> None:
        return None

    client.define_auth_resolver(slack, resolve)
    with pytest.raises(ConfigError, match="already has an auth resolver"):
        client.define_auth_resolver(slack, resolve)
    with pytest.raises(ConfigError, match="must be an async function"):
        client.define_auth_resolver(Echo("other"), not_async)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="already used by another integration"):
        job_on(client, "j", slack=Echo("byo-slack"))(resolve)
    with pytest.raises(ConfigError, match="must be 1-100 characters"):
        Echo("bad id!")
