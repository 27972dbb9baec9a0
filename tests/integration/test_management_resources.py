"""The management API's users, declared clients, machine users, connected accounts and audit
log, its paging and its one error shape, on SQLite and PostgreSQL; the Swagger UI page."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError

from authward import connection, db, define_auth, define_config
from authward.config.app import Config
from authward.connections.client import TokenSet
from authward.errors import TokenError
from authward.runtime import Authward
from authward.server.app import build_app
from tests.conftest import SettingsFactory
from tests.integration.oauth_support import authlib_client

PASSWORD = "correct horse battery staple"
USER = db.type("ApiUser", {"email": db.string().unique()})


def api_config() -> Config:
    auth = define_auth(
        "api-auth",
        user_profile={"type": USER, "username_field": "email"},
        machine_users={"ops": {}, "reader": {}},
        oauth2_clients={
            "web": {
                "redirect_uris": ["https://app.example/callback"],
                "description": "the web app",
                "grant_types": ["authorization_code", "refresh_token"],
            },
        },
        # No revocation endpoint: disconnecting never calls out.
        connections=[
            connection.oauth(
                "acme",
                authorize_url="https://acme.example/authorize",
                token_url="https://acme.example/token",
                scopes=["read"],
                client_id="acme-client",
                client_secret="acme-client-secret-acme-client-secret",
            )
        ],
    )
    return define_config(auth=auth, db=[USER])


@pytest.fixture
async def aw(database_url: str, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    runtime = await Authward.open(
        api_config(), settings_for(database_url, admin_machine_users="ops"), migrate=True
    )
    yield runtime
    await runtime.close()


@pytest.fixture
async def api(aw: Authward) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(aw))
    headers = {"Authorization": f"Bearer {await aw.machine_user_token('ops')}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t/v1", headers=headers
    ) as client:
        yield client


@pytest.fixture
async def anon(aw: Authward) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(aw))
    async with httpx.AsyncClient(transport=transport, base_url="http://t/v1") as client:
        yield client


async def ops_id(aw: Authward) -> str:
    stored = await aw.machine_users.get("ops")
    assert stored is not None
    return str(stored.id)


def assert_refusal(answer: httpx.Response, status: int, error: str) -> None:
    """The one error shape: ``error`` and ``message``, nothing of FastAPI's own."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == error
    assert isinstance(body["message"], str)
    assert body["message"]
    assert set(body) <= {"error", "message", "errors"}


async def every_page(api: httpx.AsyncClient, path: str, **params: Any) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = (await api.get(path, params=query)).json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_users(api: httpx.AsyncClient, aw: Authward) -> None:
    created = await api.post(
        "/users",
        json={"username": "ada@example.com", "password": PASSWORD, "email_verified": True},
    )
    assert created.status_code == 201, created.text
    ada = created.json()
    assert (ada["username"], ada["disabled"]) == ("ada@example.com", False)
    assert PASSWORD not in created.text
    assert_refusal(await api.post("/users", json={"username": "ada@example.com"}), 409, "conflict")
    assert_refusal(
        await api.post("/users", json={"username": "bob@example.com", "password": "short"}),
        400,
        "invalid_request",
    )
    # The 422 names the field, never echoes the input (a password must not come back).
    malformed = await api.post("/users", json={"password": PASSWORD})
    assert_refusal(malformed, 422, "invalid_request")
    assert malformed.json()["errors"][0]["loc"] == ["body", "username"]
    assert PASSWORD not in malformed.text
    for name in ("bob@example.com", "carol@example.com", "dave@other.example"):
        await aw.users.create(name, PASSWORD)

    pages = await every_page(api, "/users", limit=2)
    assert [[u["username"] for u in page] for page in pages] == [
        ["ada@example.com", "bob@example.com"],
        ["carol@example.com", "dave@other.example"],
    ]
    found = (await api.get("/users", params={"q": "OTHER"})).json()
    assert [u["username"] for u in found["items"]] == ["dave@other.example"]
    assert (await api.get("/users", params={"q": "%"})).json()["items"] == []

    got = await api.get(f"/users/{ada['id']}")
    assert got.status_code == 200
    assert got.json()["email"] == "ada@example.com"
    assert got.json()["email_verified"] is True
    assert_refusal(await api.get("/users/00000000-0000-0000-0000-000000000000"), 404, "not_found")
    assert_refusal(await api.get("/users/not-a-uuid"), 404, "not_found")

    # Disabling ends the user's sessions and refuses sign-in; enabling lets it back in.
    signed_in = await aw.users.sign_in("ada@example.com", PASSWORD, ip=None)
    disabled = await api.post(f"/users/{ada['id']}/disable")
    assert disabled.json()["disabled"] is True
    with pytest.raises(TokenError):
        await aw.sessions.mint_token(signed_in.secret)
    assert (await api.post(f"/users/{ada['id']}/enable")).json()["disabled"] is False

    # A new password: the old one no longer signs in.
    new = "another long enough passphrase"
    assert (
        await api.put(f"/users/{ada['id']}/password", json={"password": new})
    ).status_code == 204
    await aw.users.authenticate("ada@example.com", new, ip=None)
    assert_refusal(
        await api.put(f"/users/{ada['id']}/password", json={"password": "x"}),
        400,
        "invalid_request",
    )
    assert_refusal(await api.post("/users/nope/disable"), 404, "not_found")

    actor = await ops_id(aw)
    kinds = [
        (r.event.kind, r.event.actor)
        for r in await aw.audit.page(before=None, limit=50, subject=ada["id"])
    ]
    for kind in ("user.created", "user.disabled", "user.enabled", "user.password_set"):
        assert (kind, actor) in kinds, kind


async def test_declared_clients_and_machine_users(api: httpx.AsyncClient, aw: Authward) -> None:
    clients = (await api.get("/clients")).json()
    assert [c["name"] for c in clients["items"]] == ["web"]
    web = clients["items"][0]
    assert web["redirect_uris"] == ["https://app.example/callback"]
    secret = await aw.clients.client_secret("web")
    assert secret is not None
    assert secret.get_secret_value() not in str(clients)
    assert (await api.get(f"/clients/{web['client_id']}")).json() == web
    assert (await api.get("/clients/web")).json() == web
    assert_refusal(await api.get("/clients/nope"), 404, "not_found")

    pages = await every_page(api, "/machine-users", limit=1)
    assert [m["name"] for page in pages for m in page] == ["ops", "reader"]
    ops = (await api.get("/machine-users/ops")).json()
    assert ops["id"] == await ops_id(aw)
    ops_secret = await aw.machine_users.client_secret("ops")
    assert ops_secret is not None
    assert ops_secret.get_secret_value() not in str(ops)
    assert_refusal(await api.get("/machine-users/nope"), 404, "not_found")
    # When each last got a token, once the batched uses are written.
    assert web["last_used_at"] is None
    reader = (await api.get("/machine-users/reader")).json()
    aw.last_uses.record("machine_user", reader["client_id"])
    await aw.last_uses.flush()
    assert (await api.get("/machine-users/reader")).json()["last_used_at"] is not None


def tokens(access: str) -> TokenSet:
    return TokenSet(
        access_token=access,
        refresh_token=f"{access}-refresh",
        token_type="Bearer",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        scopes=("read",),
        external_id="ext-1",
    )


async def test_connections(api: httpx.AsyncClient, aw: Authward) -> None:
    first = await aw.connections.store("user-1", "oauth_acme", tokens("at-one-secret-value"))
    await aw.connections.store("user-2", "oauth_acme", tokens("at-two-secret-value"))

    listed = await api.get("/connections")
    assert [c["account_id"] for c in listed.json()["items"]] == ["user-1", "user-2"]
    assert "secret-value" not in listed.text
    mine = (await api.get("/connections", params={"account_id": "user-1"})).json()
    assert [c["id"] for c in mine["items"]] == [first.id]
    assert (await api.get("/connections", params={"provider": "other"})).json()["items"] == []
    pages = await every_page(api, "/connections", limit=1)
    assert [c["account_id"] for page in pages for c in page] == ["user-1", "user-2"]

    got = (await api.get(f"/connections/{first.id}")).json()
    assert (got["provider"], got["scopes"], got["status"]) == ("oauth_acme", ["read"], "active")
    assert (await api.delete(f"/connections/{first.id}")).status_code == 204
    assert await aw.connections.get_oauth_access_token("user-1", "oauth_acme") == []
    assert_refusal(await api.get(f"/connections/{first.id}"), 404, "not_found")
    assert_refusal(await api.delete(f"/connections/{first.id}"), 404, "not_found")
    [removed] = await aw.audit.page(before=None, limit=1, kind="connection.removed")
    assert removed.event.actor == await ops_id(aw)
    assert removed.event.detail["connection_id"] == first.id


async def test_audit_events(api: httpx.AsyncClient, aw: Authward) -> None:
    for slug in ("one", "two", "three"):
        assert (
            await api.post("/organizations", json={"slug": slug, "name": slug})
        ).status_code == 201
    actor = await ops_id(aw)
    pages = await every_page(api, "/audit-events", kind="org.created", limit=2)
    events = [e for page in pages for e in page]
    assert [e["detail"].get("slug") for e in events] == ["three", "two", "one"]  # newest first
    assert len(pages[0]) == 2
    assert all(e["actor"] == actor for e in events)
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)

    by_actor = (await api.get("/audit-events", params={"actor": actor, "limit": 200})).json()
    assert {e["kind"] for e in by_actor["items"]} == {"org.created"}
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert (await api.get("/audit-events", params={"since": later.isoformat()})).json()[
        "items"
    ] == []
    assert (
        len(
            (
                await api.get(
                    "/audit-events", params={"until": later.isoformat(), "kind": "org.created"}
                )
            ).json()["items"]
        )
        == 3
    )
    # A time without a zone is UTC; one that leaves the calendar in UTC is refused, not a 500.
    naive = (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None)
    since_naive = await api.get(
        "/audit-events", params={"since": naive.isoformat(), "kind": "org.created"}
    )
    assert len(since_naive.json()["items"]) == 3
    for edge in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        assert_refusal(
            await api.get("/audit-events", params={"since": edge}), 400, "invalid_request"
        )
    one = await api.get(f"/audit-events/{events[0]['id']}")
    assert one.json() == events[0]
    assert_refusal(await api.get("/audit-events/999999999"), 404, "not_found")


async def test_paging_refuses_a_cursor_it_did_not_write(api: httpx.AsyncClient) -> None:
    for slug in ("a", "b"):
        await api.post("/organizations", json={"slug": slug, "name": slug})
    first = (await api.get("/organizations", params={"limit": 1})).json()
    assert [o["slug"] for o in first["items"]] == ["a"]
    second = (
        await api.get("/organizations", params={"limit": 1, "cursor": first["next_cursor"]})
    ).json()
    assert ([o["slug"] for o in second["items"]], second["next_cursor"]) == (["b"], None)

    # Paged in the store: API keys, oldest first, across three pages.
    made = [
        (await api.post("/api-keys", json={"name": f"k{i}", "user_id": "u"})).json()
        for i in range(3)
    ]
    pages = await every_page(api, "/api-keys", limit=1)
    assert [[k["id"] for k in page] for page in pages] == [[k["id"]] for k in made]

    def cursor_of(*parts: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(parts).encode()).rstrip(b"=").decode()

    for bad in (
        cursor_of("api-keys", "2020-01-01T00:00:00", made[0]["id"]),  # no zone
        cursor_of("api-keys", "yesterday", made[0]["id"]),
        cursor_of("api-keys", "2020-01-01T00:00:00+00:00", "not-a-uuid"),
    ):
        assert_refusal(await api.get("/api-keys", params={"cursor": bad}), 400, "invalid_request")

    forged = cursor_of("organizations", 1)
    for cursor in ("garbage", forged, "AAAA"):
        assert_refusal(
            await api.get("/organizations", params={"cursor": cursor}), 400, "invalid_request"
        )
    # Another list's cursor means nothing here.
    assert_refusal(
        await api.get("/users", params={"cursor": first["next_cursor"]}), 400, "invalid_request"
    )
    assert_refusal(await api.get("/users", params={"limit": 0}), 422, "invalid_request")
    assert_refusal(
        await api.get("/users", params={"cursor": "not/a cursor"}), 422, "invalid_request"
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users"),
        ("POST", "/users/00000000-0000-0000-0000-000000000000/disable"),
        ("GET", "/clients"),
        ("GET", "/machine-users"),
        ("POST", "/machine-users/ops/secret"),
        ("GET", "/connections"),
        ("DELETE", "/connections/conn_x"),
        ("GET", "/audit-events"),
    ],
)
async def test_only_admins_get_in(
    anon: httpx.AsyncClient, aw: Authward, method: str, path: str
) -> None:
    api = anon
    bare = await api.request(method, path)
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"].startswith("Bearer")
    assert_refusal(bare, 401, bare.json()["error"])
    forged = await api.request(method, path, headers={"Authorization": "Bearer eyJhbGciOi.x.y"})
    assert_refusal(forged, 401, forged.json()["error"])
    reader = {"Authorization": f"Bearer {await aw.machine_user_token('reader')}"}
    assert_refusal(await api.request(method, path, headers=reader), 403, "insufficient_scope")
    key, _ = await aw.api_keys.create("k", user_id="u", scopes=["admin"])
    as_key = await api.request(method, path, headers={"Authorization": f"Bearer {key}"})
    assert as_key.status_code == 401


async def test_a_signed_in_users_token_is_refused(anon: httpx.AsyncClient, aw: Authward) -> None:
    """A person's browser session (even a console admin's) is not an admin machine user."""
    await aw.users.create("eve@example.com", PASSWORD)
    signed_in = await aw.users.sign_in("eve@example.com", PASSWORD, ip=None)
    token = await aw.sessions.mint_token(signed_in.secret)
    refused = await anon.get("/users", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert set(refused.json()) == {"error", "message"}


async def test_swagger_ui_is_served_from_here_under_a_strict_policy(
    anon: httpx.AsyncClient,
) -> None:
    api = anon
    page = await api.get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in page.text  # no inline script: each has a src
    for asset in ("docs/swagger-ui-bundle.js", "docs/swagger-ui.css", "docs/start.js"):
        assert f'"{asset}"' in page.text
        served = await api.get(f"/{asset}")
        assert served.status_code == 200, asset
        assert served.content
    assert (await api.get("/docs/index.html")).status_code == 401


async def test_rotating_a_secret_refuses_the_old_one_at_the_token_endpoint(
    api: httpx.AsyncClient, aw: Authward
) -> None:
    reader = await aw.machine_users.get("reader")
    old = await aw.machine_users.client_secret("reader")
    assert reader is not None
    assert old is not None
    token_url = f"{aw.issuer}/oauth2/token"
    async with authlib_client(aw, reader.client_id, old.get_secret_value()) as oc:
        await oc.fetch_token(token_url, grant_type="client_credentials")  # warms the cache

    rotated = await api.post("/machine-users/reader/secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["client_id"] == reader.client_id
    assert new["client_secret"] != old.get_secret_value()
    assert new["client_secret"] not in (await api.get("/machine-users/reader")).text

    async with authlib_client(aw, reader.client_id, old.get_secret_value()) as oc:
        with pytest.raises(OAuthError) as refused:
            await oc.fetch_token(token_url, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    async with authlib_client(aw, reader.client_id, new["client_secret"]) as oc:
        token = await oc.fetch_token(token_url, grant_type="client_credentials")
    assert (await aw.verify_access_token(token["access_token"])).principal_id == str(reader.id)

    before = await aw.clients.client_secret("web")
    web = await api.post("/clients/web/secret")
    after = await aw.clients.client_secret("web")
    assert before is not None
    assert after is not None
    assert web.json()["client_secret"] == after.get_secret_value() != before.get_secret_value()
    assert_refusal(await api.post("/clients/nope/secret"), 404, "not_found")
    assert_refusal(await api.post("/machine-users/nope/secret"), 404, "not_found")

    actor = await ops_id(aw)
    events = await aw.audit.page(before=None, limit=10)
    kinds = [(r.event.kind, r.event.subject, r.event.actor) for r in events]
    assert ("machine_user.secret_rotated", "reader", actor) in kinds
    assert ("client.secret_rotated", "web", actor) in kinds
    assert new["client_secret"] not in str([r.event for r in events])
