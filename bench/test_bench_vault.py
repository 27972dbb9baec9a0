"""The connected-accounts vault (issue 6): a warm read, the resolver + vault overhead of a run,
and 100 concurrent reads of one account whose token must be refreshed.

Run with ``make bench``. Targets (issue 6): resolver + vault overhead per run < 1 ms p50 with a
warm cache; exactly one refresh request reaches the provider under 100 concurrent reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.peers.asgi import serve_asgi
from tests.peers.oauth_provider import OAuthProvider

from authward import connection, db, define_auth, define_config
from authward.connections.client import TokenSet
from authward.jobs.context import Account, EventRef, JobRef, RunContext
from authward.jobs.credentials import AuthResolverResult, ResolverEntry, resolve_credentials
from authward.runtime import Authward
from authward.settings import load_settings
from bench.test_bench_tokens import complete

CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-client-secret-0123456789abcdef"
USER = db.type("User", {"email": db.string().unique()})


class Acme:
    """Just what the resolver step reads of an integration (its id)."""

    def __init__(self, id: str) -> None:
        self.id = id

    def bind(self, io: Any, ctx: Any) -> Any:
        raise NotImplementedError


class Setup:
    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.peer = OAuthProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        self._serving = serve_asgi(self.peer.app)
        self.base = self.loop.run_until_complete(self._serving.__aenter__())
        auth = define_auth(
            "bench-auth",
            user_profile={"type": USER, "username_field": "email"},
            connections=[
                connection.oauth(
                    "acme",
                    authorize_url=f"{self.base}/authorize",
                    token_url=f"{self.base}/token",
                    client_id=CLIENT_ID,
                    client_secret=CLIENT_SECRET,
                )
            ],
        )
        self.auth = auth
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{tmp / 'authward.db'}",
            key_file=tmp / "authward.key",
            cache_refresh_seconds=300,
        )
        config = define_config(auth=auth, db=[USER])
        self.aw: Authward = self.loop.run_until_complete(Authward.open(config, settings))

    def store(self, account: str, expires_in: float) -> None:
        body = self.peer.issue()
        tokens = TokenSet(
            str(body["access_token"]),
            str(body["refresh_token"]),
            "Bearer",
            datetime.now(UTC) + timedelta(seconds=expires_in),
            ("read",),
        )
        self.loop.run_until_complete(self.aw.connections.store(account, "oauth_acme", tokens))

    def close(self) -> None:
        self.loop.run_until_complete(self.aw.close())
        self.loop.run_until_complete(self._serving.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    s = Setup(tmp_path_factory.mktemp("vault"))
    s.store("user_123", 3600)
    s.loop.run_until_complete(s.aw.connections.get_oauth_access_token("user_123", "oauth_acme"))
    yield s
    s.close()


def test_warm_get_oauth_access_token(benchmark: Any, setup: Setup) -> None:
    """``complete`` fails if the read suspends: a warm read does no I/O at all."""
    benchmark.group = "vault"
    users = setup.auth.users
    tokens = benchmark(lambda: complete(users.get_oauth_access_token("user_123", "oauth_acme")))
    assert tokens[0].token == setup.peer.access_tokens[0]


def test_resolver_and_vault_per_run(benchmark: Any, setup: Setup) -> None:
    """What a run pays before its first call: the seed's resolver over a warm vault, with the
    lineage match, as the job runtime calls it (one event-loop turn per round included)."""
    benchmark.group = "vault"
    byo = Acme(id="byo-acme")
    auth = setup.auth

    async def resolver(ctx: RunContext, integration: Any) -> AuthResolverResult | None:
        assert ctx.account is not None
        tokens = await auth.users.get_oauth_access_token(ctx.account.id, "oauth_acme")
        if not tokens:
            raise LookupError(f"no Acme auth for account {ctx.account.id}")
        return AuthResolverResult(type="oauth", token=tokens[0].token)

    resolvers = {byo.id: ResolverEntry(byo, resolver, 10.0)}
    ctx = RunContext(
        id="run_1",
        job=JobRef("post-a-message", "1.0.0"),
        event=EventRef(None, "post.message", None),
        account=Account("user_123"),
        environment="bench",
        user=None,
        attempt=1,
    )
    run = setup.loop.run_until_complete
    integration: Any = byo
    vault = setup.aw.connections
    credentials = benchmark(lambda: run(resolve_credentials(vault, resolvers, integration, ctx)))
    assert credentials.source == "vault"
    assert credentials.connection_id is not None


def test_hundred_concurrent_reads_one_refresh(benchmark: Any, setup: Setup) -> None:
    """Each round: a token 5 s from expiry (inside the 60 s skew), then 100 concurrent reads of
    that account; exactly one refresh request reaches the provider per round."""
    benchmark.group = "vault refresh"
    rounds: list[int] = []

    def prepare() -> tuple[tuple[()], dict[str, Any]]:
        setup.store("user_hot", 5)
        rounds.append(setup.peer.token_hits["refresh_token"])
        return (), {}

    async def hundred() -> set[str]:
        results = await asyncio.gather(
            *(
                setup.aw.connections.get_oauth_access_token("user_hot", "oauth_acme")
                for _ in range(100)
            )
        )
        return {r[0].token for r in results}

    tokens = benchmark.pedantic(
        lambda: setup.loop.run_until_complete(hundred()), setup=prepare, rounds=20
    )
    assert len(tokens) == 1
    hits = setup.peer.token_hits["refresh_token"]
    assert hits - rounds[0] == len(rounds), "more than one refresh per round"
    benchmark.extra_info["refresh_requests_per_100_reads"] = (hits - rounds[0]) / len(rounds)
