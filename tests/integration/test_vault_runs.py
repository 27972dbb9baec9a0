"""Jobs over the vault: a hundred concurrent runs of one account whose token is about to expire
make exactly one refresh at the provider, and every run posts with the refreshed token (the real
slack_sdk against a local Slack; a local OAuth provider; SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from authward import connection, db, define_auth, define_config
from authward.connections.client import TokenSet
from authward.integrations import AuthResolverResult
from authward.integrations.slack import Slack
from authward.jobs import Io, JobClient, RunContext, event_trigger
from authward.runtime import Authward
from tests.conftest import SettingsFactory
from tests.integration.jobs_support import wait_for
from tests.peers.asgi import serve_asgi
from tests.peers.oauth_provider import OAuthProvider
from tests.peers.slack_api import SlackPeer

RUNS = 100
USER = db.type("User", {"email": db.string().unique()})


class MintedTokens(dict[str, str]):
    """The local Slack accepts exactly the access tokens the local provider has minted."""

    def __init__(self, provider: OAuthProvider) -> None:
        super().__init__()
        self.provider = provider

    def get(self, token: str, default: Any = None) -> Any:  # type: ignore[override]
        return "U-PEER-1" if token in self.provider.access_tokens else default


async def test_a_hundred_concurrent_runs_of_one_account_make_one_refresh(
    database_url: str, settings_for: SettingsFactory
) -> None:
    provider = OAuthProvider(
        client_id="slackish-client", client_secret="slackish-secret-0123456789", refresh_delay=0.05
    )
    slack = SlackPeer()
    slack.tokens = MintedTokens(provider)
    async with serve_asgi(provider.app) as idp, slack.serve() as slack_api:
        auth = define_auth(
            "vault-runs",
            user_profile={"type": USER, "username_field": "email"},
            connections=[
                connection.oauth(
                    "slack",
                    authorize_url=f"{idp}/authorize",
                    token_url=f"{idp}/token",
                    client_id=provider.client_id,
                    client_secret=provider.client_secret,
                )
            ],
        )
        config = define_config(auth=auth, db=[USER])
        client = JobClient(id="vault-runs")
        byo_slack = Slack(id="byo-slack", base_url=slack_api)

        @client.auth_resolver(byo_slack)
        async def resolve(ctx: RunContext, integration: Any) -> AuthResolverResult | None:
            if ctx.account is None:
                return None
            tokens = await auth.users.get_oauth_access_token(ctx.account.id, "oauth_slack")
            return AuthResolverResult(type="oauth", token=tokens[0].token) if tokens else None

        @client.job(
            id="post",
            name="post",
            version="1",
            trigger=event_trigger(name="post"),
            integrations={"slack": byo_slack},
        )
        async def post(payload: Any, io: Io, ctx: RunContext) -> Any:
            return await io.slack.post_message("💬", channel="C1", text=payload["text"])

        aw = await Authward.open(
            config, settings_for(database_url, jobs_concurrency=RUNS), migrate=True
        )
        try:
            first = provider.issue()
            # 30 s left: inside the refresh skew, so the first read of every run wants a refresh.
            await aw.connections.store(
                "user_123",
                "oauth_slack",
                TokenSet(
                    access_token=str(first["access_token"]),
                    refresh_token=str(first["refresh_token"]),
                    token_type="Bearer",
                    expires_at=datetime.now(UTC) + timedelta(seconds=30),
                    scopes=("chat:write",),
                ),
            )
            aw.jobs.bind([client])
            await aw.jobs.start(scheduler=False)
            sent = await asyncio.gather(
                *(
                    client.send_event(
                        {"name": "post", "payload": {"text": f"m{i}"}}, account_id="user_123"
                    )
                    for i in range(RUNS)
                )
            )
            runs = [await wait_for(aw, s.run_ids[0]) for s in sent]
        finally:
            await aw.close()

    assert [r.status for r in runs] == ["succeeded"] * RUNS
    assert provider.token_hits["refresh_token"] == 1
    refreshed = provider.access_tokens[-1]
    assert refreshed != first["access_token"]
    posts = slack.calls("chat.postMessage")
    assert len(posts) == RUNS
    assert {p.authorization for p in posts} == {f"Bearer {refreshed}"}
    assert {(r.tasks[0].credential_source, r.tasks[0].credential_account) for r in runs} == {
        ("vault", "user_123")
    }
