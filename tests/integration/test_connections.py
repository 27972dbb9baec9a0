"""The connected-accounts vault against a local OAuth provider (tests/peers/oauth_provider.py),
on SQLite and PostgreSQL: the connect flow over real HTTP, sealed storage, refresh before expiry
with one refresh in flight (one process and two), key rotation, broken connections, disconnect.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from authward import connection, db, define_auth, define_config
from authward.config.app import Config
from authward.connections import ConnectionBroken, UnknownConnectionProvider
from authward.connections.client import TokenSet
from authward.connections.reads import VaultRead, vault_reads
from authward.crypto.instance_key import derive_key
from authward.crypto.secretbox import key_id
from authward.observability import metrics
from authward.runtime import Authward
from authward.server.app import build_app
from authward.store.schema import audit_events, connections
from tests.conftest import SettingsFactory
from tests.peers.asgi import serve_asgi
from tests.peers.oauth_provider import OAuthProvider

#: The vault's refreshes as /metrics counts them (docs/operations.md).
REFRESHES = "authward_vault_refreshes_total"

CLIENT_ID = "acme-client"
CLIENT_SECRET = "acme-client-secret-acme-client-secret"
KEY_1 = "vault-test-instance-key-one-0123456789abcdef"
KEY_2 = "vault-test-instance-key-two-0123456789abcdef"
PASSWORD = "correct horse battery staple"
USER = db.type("User", {"email": db.string().unique()})


def make_config(base: str, **provider: Any) -> Config:
    options: dict[str, Any] = {
        "authorize_url": f"{base}/authorize",
        "token_url": f"{base}/token",
        "revocation_url": f"{base}/revoke",
        "scopes": ["read", "write"],
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    options.update(provider)
    auth = define_auth(
        "vault-auth",
        user_profile={"type": USER, "username_field": "email"},
        connections=[connection.oauth("acme", **options)],
    )
    return define_config(auth=auth, db=[USER])


@dataclass
class World:
    provider: OAuthProvider
    base: str
    config: Config
    open: Callable[..., Any]


@asynccontextmanager
async def world(
    database_url: str, settings_for: SettingsFactory, **provider: Any
) -> AsyncIterator[World]:
    peer = OAuthProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **provider)
    opened: list[Authward] = []
    async with serve_asgi(peer.app) as base:
        config = make_config(base)

        async def open_aw(**settings: Any) -> Authward:
            settings.setdefault("secret_key", KEY_1)
            aw = await Authward.open(config, settings_for(database_url, **settings), migrate=True)
            opened.append(aw)
            return aw

        try:
            yield World(peer, base, config, open_aw)
        finally:
            for aw in opened:
                await aw.close()


def tokens_from(body: dict[str, Any], *, expires_in: float | None = None) -> TokenSet:
    """A token response of the provider, as the vault keeps it."""
    lifetime = expires_in if expires_in is not None else float(body["expires_in"])
    return TokenSet(
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]),
        token_type="Bearer",
        expires_at=datetime.now(UTC) + timedelta(seconds=lifetime),
        scopes=tuple(str(body["scope"]).split()),
        external_id=str(body["user_id"]),
    )


async def raw_row(aw: Authward, connection_id: str) -> Any:
    async with aw.engine.connect() as conn:
        return (
            await conn.execute(select(connections).where(connections.c.id == connection_id))
        ).first()


# -- the connect flow over HTTP --------------------------------------------------------------------


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return html.unescape(match.group(1))


async def test_a_signed_in_user_connects_and_disconnects_over_http(
    database_url: str, settings_for: SettingsFactory
) -> None:
    async with world(database_url, settings_for, require_pkce=True) as w:
        app: dict[str, Any] = {}

        async def authward(scope: Any, receive: Any, send: Any) -> None:
            await app["asgi"](scope, receive, send)

        async with serve_asgi(authward) as site, httpx.AsyncClient(timeout=30) as browser:
            aw = await w.open(issuer=site)
            app["asgi"] = build_app(aw)
            alice = await aw.users.create("alice@example.com", PASSWORD)

            # Signed out: the page sends the browser to sign in first, and back.
            r = await browser.get(f"{site}/connections")
            assert r.status_code == 303
            assert r.headers["location"] == "/login?return_to=%2Fconnections"
            r = await browser.get(f"{site}/login?return_to=/connections")
            r = await browser.post(
                f"{site}/login",
                data={
                    "username": "alice@example.com",
                    "password": PASSWORD,
                    "csrf_token": csrf_of(r.text),
                    "ticket": "",
                    "return_to": "/connections",
                },
            )
            assert r.status_code == 303
            assert r.headers["location"] == "/connections"

            page = await browser.get(f"{site}/connections")
            assert page.status_code == 200
            assert "acme" in page.text
            assert "not connected" in page.text
            assert page.headers["x-frame-options"] == "DENY"
            csrf = csrf_of(page.text)

            # A form posted without the browser's CSRF token is refused.
            r = await browser.post(f"{site}/connections/oauth_acme/start", data={"csrf_token": "x"})
            assert r.status_code == 403

            r = await browser.post(
                f"{site}/connections/oauth_acme/start", data={"csrf_token": csrf}
            )
            assert r.status_code == 303
            authorize = urlsplit(r.headers["location"])
            query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
            assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == (
                f"{w.base}/authorize"
            )
            assert query["redirect_uri"] == f"{site}/connections/oauth_acme/callback"
            assert query["code_challenge_method"] == "S256"
            assert query["scope"] == "read write"
            assert len(query["state"]) >= 43

            # The provider approves and sends the browser back with a code.
            r = await browser.get(r.headers["location"])
            assert r.status_code == 302
            callback = r.headers["location"]
            # Another browser (no pending cookie) cannot finish it.
            async with httpx.AsyncClient(cookies=None) as other:
                stolen = await other.get(callback)
                assert stolen.status_code == 400
            r = await browser.get(callback)
            assert r.status_code == 303, r.text
            assert r.headers["location"] == "/connections?connected=oauth_acme"
            assert w.provider.token_hits == {"authorization_code": 1}

            page = await browser.get(site + r.headers["location"])
            assert "Connected acme." in page.text
            assert "connected as U-PEER-1" in page.text

            # The seed's read: the token the provider issued, for alice's id.
            tokens = await w.config.auth.users.get_oauth_access_token(alice.id, "oauth_acme")
            assert [t.token for t in tokens] == w.provider.access_tokens
            assert tokens[0].scopes == ("read", "write")
            assert tokens[0].external_id == "U-PEER-1"
            assert await aw.connections.get_oauth_access_token("someone-else", "oauth_acme") == []

            # Sealed at rest: neither token is in the row.
            row = await raw_row(aw, tokens[0].connection_id)
            access, refresh = w.provider.access_tokens[0], w.provider.live_refresh_tokens()[0]
            for column in (row.access_token, row.refresh_token):
                assert access.encode() not in column
                assert refresh.encode() not in column
            assert row.access_token[1:9] == key_id(derive_key(KEY_1))

            # A replayed callback finds no pending connection (the cookie was spent).
            r = await browser.get(callback)
            assert r.status_code == 400

            # Disconnect: revoked at the provider, gone from the vault.
            page = await browser.get(f"{site}/connections")
            r = await browser.post(
                f"{site}/connections/oauth_acme/disconnect",
                data={"csrf_token": csrf_of(page.text)},
            )
            assert r.status_code == 303
            assert w.provider.revoked == [refresh]
            assert w.provider.live_refresh_tokens() == []
            assert await aw.connections.get_oauth_access_token(alice.id, "oauth_acme") == []
            page = await browser.get(f"{site}/connections")
            assert "not connected" in page.text


async def test_a_callback_with_another_state_is_refused(
    database_url: str, settings_for: SettingsFactory
) -> None:
    async with world(database_url, settings_for) as w:
        aw = await w.open(issuer="https://authward.test")
        await aw.users.create("bob@example.com", PASSWORD)
        transport = httpx.ASGITransport(app=build_app(aw))
        async with httpx.AsyncClient(
            mounts={"https://authward.test": transport}, base_url="https://authward.test"
        ) as browser:
            r = await browser.get("/login")
            await browser.post(
                "/login",
                data={
                    "username": "bob@example.com",
                    "password": PASSWORD,
                    "csrf_token": csrf_of(r.text),
                    "ticket": "",
                    "return_to": "",
                },
            )
            page = await browser.get("/connections")
            r = await browser.post(
                "/connections/oauth_acme/start", data={"csrf_token": csrf_of(page.text)}
            )
            r = await browser.get(r.headers["location"])
            forged = re.sub(r"state=[^&]+", "state=forged", r.headers["location"])
            r = await browser.get(forged.replace("https://authward.test", ""))
            assert r.status_code == 400
            assert "does not belong" in r.text
        assert w.provider.token_hits == {}
        assert await aw.connections.list() == []


# -- refresh -------------------------------------------------------------------------------------


async def test_a_token_is_refreshed_before_it_expires_and_the_rotated_refresh_token_kept(
    database_url: str, settings_for: SettingsFactory
) -> None:
    async with world(database_url, settings_for) as w:
        aw = await w.open()
        first = w.provider.issue()
        refreshed = metrics.sample(REFRESHES, [("outcome", "refreshed")])
        # 30 s left: inside the 60 s skew, so the next read refreshes first.
        await aw.connections.store("user_123", "oauth_acme", tokens_from(first, expires_in=30))
        [token] = await aw.connections.get_oauth_access_token("user_123", "oauth_acme")
        assert w.provider.token_hits == {"refresh_token": 1}
        assert metrics.sample(REFRESHES, [("outcome", "refreshed")]) == refreshed + 1
        assert token.token == w.provider.access_tokens[-1] != first["access_token"]
        assert token.expires_at is not None
        assert token.expires_at > datetime.now(UTC) + timedelta(minutes=50)
        # The rotated refresh token is the one kept: the next refresh uses it.
        assert first["refresh_token"] not in w.provider.live_refresh_tokens()
        again = await aw.connections.get_oauth_access_token("user_123", "oauth_acme")
        assert again == [token]
        assert w.provider.token_hits == {"refresh_token": 1}
        row = await raw_row(aw, token.connection_id)
        assert row.version == 2
        assert row.refresh_owner is None


async def test_a_hundred_concurrent_reads_make_one_refresh(
    database_url: str, settings_for: SettingsFactory
) -> None:
    async with world(database_url, settings_for, refresh_delay=0.05) as w:
        aw = await w.open()
        await aw.connections.store(
            "user_123", "oauth_acme", tokens_from(w.provider.issue(), expires_in=5)
        )
        results = await asyncio.gather(
            *(aw.connections.get_oauth_access_token("user_123", "oauth_acme") for _ in range(100))
        )
        assert w.provider.token_hits["refresh_token"] == 1
        assert {r[0].token for r in results} == {w.provider.access_tokens[-1]}


async def test_two_instances_on_one_postgresql_database_make_one_refresh(
    postgres_url: str, settings_for: SettingsFactory
) -> None:
    async with world(postgres_url, settings_for, refresh_delay=0.1) as w:
        one, two = await w.open(), await w.open()
        await one.connections.store(
            "user_123", "oauth_acme", tokens_from(w.provider.issue(), expires_in=5)
        )
        results = await asyncio.gather(
            *(
                aw.connections.get_oauth_access_token("user_123", "oauth_acme")
                for _ in range(50)
                for aw in (one, two)
            )
        )
        assert w.provider.token_hits["refresh_token"] == 1
        assert {r[0].token for r in results} == {w.provider.access_tokens[-1]}


async def test_a_token_sealed_under_the_old_key_opens_and_is_resealed_on_refresh(
    database_url: str, settings_for: SettingsFactory
) -> None:
    async with world(database_url, settings_for) as w:
        old = await w.open(secret_key=KEY_1)
        info = await old.connections.store(
            "user_123", "oauth_acme", tokens_from(w.provider.issue(), expires_in=3600)
        )
        soon = await old.connections.store(
            "user_456", "oauth_acme", tokens_from(w.provider.issue(), expires_in=5)
        )
        await old.close()

        new = await w.open(secret_key=KEY_2, previous_secret_keys=KEY_1)
        [kept] = await new.connections.get_oauth_access_token("user_123", "oauth_acme")
        assert kept.token == w.provider.access_tokens[0]
        assert (await raw_row(new, info.id)).access_token[1:9] == key_id(derive_key(KEY_1))

        [refreshed] = await new.connections.get_oauth_access_token("user_456", "oauth_acme")
        assert refreshed.token == w.provider.access_tokens[-1]
        row = await raw_row(new, soon.id)
        assert row.access_token[1:9] == key_id(derive_key(KEY_2))
        assert row.refresh_token[1:9] == key_id(derive_key(KEY_2))


# -- faults --------------------------------------------------------------------------------------


async def test_a_refused_refresh_token_breaks_the_connection_until_it_is_connected_again(
    database_url: str, settings_for: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(database_url, settings_for, reject_refresh=True) as w:
        aw = await w.open()
        body = w.provider.issue()
        failed = metrics.sample(REFRESHES, [("outcome", "failed")])
        await aw.connections.store("user_123", "oauth_acme", tokens_from(body, expires_in=5))
        with pytest.raises(ConnectionBroken) as caught:
            await aw.connections.get_oauth_access_token("user_123", "oauth_acme")
        assert metrics.sample(REFRESHES, [("outcome", "failed")]) == failed + 1
        message = str(caught.value)
        assert "oauth_acme connection of account 'user_123' is broken" in message
        assert "invalid_grant" in message
        assert "reconnect" in message or "connect it again" in message
        for secret in (body["access_token"], body["refresh_token"]):
            assert str(secret) not in message
            assert str(secret) not in caplog.text
        # Later reads fail the same way without asking the provider again.
        with pytest.raises(ConnectionBroken):
            await w.config.auth.users.get_oauth_access_token("user_123", "oauth_acme")
        assert w.provider.token_hits == {"refresh_token": 1}
        [listed] = await aw.connections.list("user_123")
        assert listed.status == "broken"
        # Connecting again mends it.
        w.provider.reject_refresh = False
        fresh = w.provider.issue()
        await aw.connections.store("user_123", "oauth_acme", tokens_from(fresh))
        [token] = await aw.connections.get_oauth_access_token("user_123", "oauth_acme")
        assert token.token == fresh["access_token"]


async def test_mark_broken_after_a_401_makes_reads_fail_clearly(
    database_url: str, settings_for: SettingsFactory
) -> None:
    async with world(database_url, settings_for) as w:
        aw = await w.open()
        await aw.connections.store("user_123", "oauth_acme", tokens_from(w.provider.issue()))
        [token] = await aw.connections.get_oauth_access_token("user_123", "oauth_acme")
        await aw.connections.mark_broken(
            token.connection_id, "byo-slack post_message: the provider refused the credential"
        )
        with pytest.raises(ConnectionBroken, match="refused the credential"):
            await aw.connections.get_oauth_access_token("user_123", "oauth_acme")
        async with aw.engine.connect() as conn:
            kinds = (await conn.execute(select(audit_events.c.kind))).scalars().all()
        assert "connection.broken" in kinds


async def test_another_process_sees_a_change_after_the_cache_refresh_time(
    postgres_url: str, settings_for: SettingsFactory
) -> None:
    async with world(postgres_url, settings_for) as w:
        one = await w.open(cache_refresh_seconds=0.05)
        two = await w.open(cache_refresh_seconds=0.05)
        await one.connections.store("user_123", "oauth_acme", tokens_from(w.provider.issue()))
        [token] = await two.connections.get_oauth_access_token("user_123", "oauth_acme")
        await one.connections.mark_broken(token.connection_id, "HTTP 401 at call time")
        await asyncio.sleep(0.06)
        with pytest.raises(ConnectionBroken):
            await two.connections.get_oauth_access_token("user_123", "oauth_acme")


async def test_unknown_provider_and_vault_lineage(
    database_url: str, settings_for: SettingsFactory
) -> None:
    async with world(database_url, settings_for) as w:
        aw = await w.open()
        with pytest.raises(UnknownConnectionProvider, match="oauth_acme"):
            await aw.connections.get_oauth_access_token("user_123", "oauth_slak")
        info = await aw.connections.store("user_123", "oauth_acme", tokens_from(w.provider.issue()))
        reads: list[VaultRead] = []
        marker = vault_reads.set(reads)
        try:
            [token] = await aw.connections.get_oauth_access_token("user_123", "oauth_acme")
        finally:
            vault_reads.reset(marker)
        assert [(r.connection_id, r.provider, r.account_id) for r in reads] == [
            (info.id, "oauth_acme", "user_123")
        ]
        assert reads[0].token == token.token
        assert "pat_" not in repr(token)


async def test_developer_connection_serves_integrations(
    database_url: str, settings_for: SettingsFactory
) -> None:
    async with world(database_url, settings_for) as w:
        aw = await w.open()
        assert await aw.connections.developer_credentials("oauth_acme") is None
        body = w.provider.issue()
        info = await aw.connections.store(
            "", "oauth_acme", tokens_from(body), kind="developer", actor="cli"
        )
        credentials = await aw.connections.developer_credentials("oauth_acme")
        assert credentials is not None
        assert credentials.token == body["access_token"]
        assert credentials.source == "developer"
        assert credentials.connection_id == info.id
        assert await aw.connections.disconnect("", "oauth_acme", kind="developer")
        assert await aw.connections.developer_credentials("oauth_acme") is None
        assert not await aw.connections.disconnect("", "oauth_acme", kind="developer")


async def test_external_idp_login_tokens_become_the_users_connection(
    database_url: str, settings_for: SettingsFactory
) -> None:
    """What "Sign in with corp" hands the vault (the sign-in itself is test_external_login's):
    the token response is kept as ``oauth_corp`` and refreshed at the IdP's token endpoint,
    found in its discovery document."""
    from authward import idp

    peer = OAuthProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    async with serve_asgi(peer.app) as base:
        provider = idp.provider(
            "corp", "web", issuer=base, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        auth = define_auth(
            "idp-auth",
            user_profile={"type": USER, "username_field": "email"},
            id_provider=provider,
            connections=[connection.from_id_provider("corp")],
        )
        config = define_config(auth=auth, db=[USER])
        aw = await Authward.open(config, settings_for(database_url, secret_key=KEY_1), migrate=True)
        try:
            body = peer.issue("openid email offline_access")
            body["expires_in"] = 5
            # What the sign-in's callback hands the vault (server/external_login.py).
            await aw.connections.store_token_response("user_9", "oauth_corp", body, "corp-sub-9")
            [token] = await auth.users.get_oauth_access_token("user_9", "oauth_corp")
            assert peer.token_hits == {"refresh_token": 1}
            assert token.token == peer.access_tokens[-1]
            assert token.external_id == "U-PEER-1"
            assert token.scopes == ("openid", "email", "offline_access")
        finally:
            await aw.close()
