"""The management API at /v1: off by default, open only to the named admin machine users; API
keys, organizations and their members, users' sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from authward.config import Config
from authward.errors import ConfigError, TokenError
from authward.runtime import Authward
from authward.server.app import build_app
from tests.conftest import SettingsFactory


@pytest.fixture
async def admin_runtime(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    settings = settings_for(database_url, admin_machine_users="admin-machine-user")
    aw = await Authward.open(example_config, settings, migrate=True)
    yield aw
    await aw.close()


@pytest.fixture
async def client(admin_runtime: Authward) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(admin_runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def bearer(aw: Authward, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await aw.machine_user_token(name)}"}


async def machine_user_id(aw: Authward, name: str) -> str:
    stored = await aw.machine_users.get(name)
    assert stored is not None
    return str(stored.id)


async def test_admin_creates_lists_and_revokes_api_keys(
    client: httpx.AsyncClient, admin_runtime: Authward
) -> None:
    headers = await bearer(admin_runtime, "admin-machine-user")
    org = await admin_runtime.organizations.create("acme", "Acme")
    created = await client.post(
        "/v1/api-keys",
        json={"name": "ci", "org_id": org.id, "scopes": ["reports:read"]},
        headers=headers,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("ak_")
    assert (await admin_runtime.api_keys.verify(body["key"])).org_id == org.id

    listed = (await client.get("/v1/api-keys", params={"org_id": org.id}, headers=headers)).json()[
        "items"
    ]
    assert [k["id"] for k in listed] == [body["id"]]
    assert body["key"] not in str(listed)
    assert listed[0]["status"] == "active"

    assert (await client.delete(f"/v1/api-keys/{body['id']}", headers=headers)).status_code == 204
    missing = await client.delete(
        "/v1/api-keys/00000000-0000-0000-0000-000000000000", headers=headers
    )
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    with pytest.raises(TokenError):
        await admin_runtime.api_keys.verify(body["key"])


async def test_bad_input_is_400_naming_the_problem(
    client: httpx.AsyncClient, admin_runtime: Authward
) -> None:
    headers = await bearer(admin_runtime, "admin-machine-user")
    both = await client.post(
        "/v1/api-keys", json={"name": "x", "user_id": "u", "org_id": "o"}, headers=headers
    )
    assert both.status_code == 400
    assert "exactly one owner" in both.json()["message"]
    assert (await client.post("/v1/api-keys", json={}, headers=headers)).status_code == 422


async def test_an_org_key_needs_an_existing_organization(
    client: httpx.AsyncClient, admin_runtime: Authward
) -> None:
    headers = await bearer(admin_runtime, "admin-machine-user")
    missing = await client.post(
        "/v1/api-keys", json={"name": "ci", "org_id": "org_1"}, headers=headers
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    assert missing.json()["message"].startswith("org_id: no organization 'org_1'")
    assert await admin_runtime.api_keys.list(include_revoked=True) == []

    org = (
        await client.post("/v1/organizations", json={"slug": "acme", "name": "A"}, headers=headers)
    ).json()
    by_slug = await client.post(
        "/v1/api-keys", json={"name": "ci", "org_id": "acme"}, headers=headers
    )
    assert by_slug.status_code == 201
    assert by_slug.json()["org_id"] == org["id"]


async def test_organizations(client: httpx.AsyncClient, admin_runtime: Authward) -> None:
    headers = await bearer(admin_runtime, "admin-machine-user")
    created = await client.post(
        "/v1/organizations", json={"slug": "acme", "name": "Acme Inc."}, headers=headers
    )
    assert created.status_code == 201
    acme = created.json()
    assert acme["id"].startswith("org_")
    assert (acme["slug"], acme["name"]) == ("acme", "Acme Inc.")
    assert set(acme) == {"id", "slug", "name", "created_at", "updated_at"}
    await client.post("/v1/organizations", json={"slug": "globex", "name": "G"}, headers=headers)

    taken = await client.post(
        "/v1/organizations", json={"slug": "acme", "name": "Again"}, headers=headers
    )
    assert taken.status_code == 409
    assert taken.json() == {
        "error": "conflict",
        "message": "an organization with slug 'acme' already exists",
    }
    bad = await client.post(
        "/v1/organizations", json={"slug": "Not A Slug", "name": "x"}, headers=headers
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_request"
    assert bad.json()["message"].startswith("slug: 'Not A Slug' is not a slug")
    shape = await client.post("/v1/organizations", json={"slug": "x"}, headers=headers)
    assert shape.status_code == 422

    listed = (await client.get("/v1/organizations", headers=headers)).json()["items"]
    assert [o["slug"] for o in listed] == ["acme", "globex"]
    for name in (acme["id"], "acme"):
        got = await client.get(f"/v1/organizations/{name}", headers=headers)
        assert got.status_code == 200
        assert got.json() == acme
    for unknown in ("nope", "org_nope"):
        missing = await client.get(f"/v1/organizations/{unknown}", headers=headers)
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"
        assert unknown in missing.json()["message"]

    assert (await client.delete("/v1/organizations/acme", headers=headers)).status_code == 204
    again = await client.delete(f"/v1/organizations/{acme['id']}", headers=headers)
    assert again.status_code == 404
    assert again.json()["error"] == "not_found"
    assert [o.slug for o in await admin_runtime.organizations.list()] == ["globex"]

    admin_id = await machine_user_id(admin_runtime, "admin-machine-user")
    kinds = [(e.kind, e.actor) for e in await admin_runtime.audit.recent() if e.kind[:4] == "org."]
    assert ("org.created", admin_id) in kinds
    assert ("org.deleted", admin_id) in kinds


async def test_members(client: httpx.AsyncClient, admin_runtime: Authward) -> None:
    headers = await bearer(admin_runtime, "admin-machine-user")
    org = await admin_runtime.organizations.create("acme", "Acme")
    path = "/v1/organizations/acme/members"

    added = await client.put(f"{path}/user-1", json={"role": "member"}, headers=headers)
    assert added.status_code == 201
    assert added.json()["org_id"] == org.id
    assert added.json()["org_slug"] == "acme"
    assert (added.json()["user_id"], added.json()["role"]) == ("user-1", "member")
    assert added.json()["permissions"] == []
    changed = await client.put(
        f"/v1/organizations/{org.id}/members/user-1", json={"role": "admin"}, headers=headers
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "admin"
    same = await client.put(f"{path}/user-1", json={"role": "admin"}, headers=headers)
    assert same.status_code == 200
    await client.put(f"{path}/user-2", json={"role": "member"}, headers=headers)

    members = (await client.get(path, headers=headers)).json()["items"]
    assert [(m["user_id"], m["role"]) for m in members] == [
        ("user-1", "admin"),
        ("user-2", "member"),
    ]
    stored = await admin_runtime.organizations.member("acme", "user-1")
    assert stored is not None
    assert stored.role == "admin"

    bad_role = await client.put(f"{path}/user-3", json={"role": "owner"}, headers=headers)
    assert bad_role.status_code == 400
    assert bad_role.json()["error"] == "invalid_request"
    assert "unknown organization role 'owner'" in bad_role.json()["message"]
    assert "known: admin, member" in bad_role.json()["message"]
    bad_change = await client.put(f"{path}/user-1", json={"role": "owner"}, headers=headers)
    assert bad_change.status_code == 400
    assert (await client.put(f"{path}/user-1", json={}, headers=headers)).status_code == 422

    assert (await client.delete(f"{path}/user-2", headers=headers)).status_code == 204
    not_member = await client.delete(f"{path}/user-2", headers=headers)
    assert not_member.status_code == 404
    assert not_member.json() == {
        "error": "not_found",
        "message": "'user-2' is not a member of 'acme'",
    }
    members = (await client.get(path, headers=headers)).json()["items"]
    assert [m["user_id"] for m in members] == ["user-1"]

    for method, url, body in [
        ("GET", "/v1/organizations/nope/members", None),
        ("PUT", "/v1/organizations/nope/members/user-1", {"role": "member"}),
        ("PUT", "/v1/organizations/nope/members/user-1", {"role": "owner"}),
        ("DELETE", "/v1/organizations/nope/members/user-1", None),
    ]:
        unknown = await client.request(method, url, json=body, headers=headers)
        assert unknown.status_code == 404, (method, url, unknown.text)
        assert unknown.json() == {
            "error": "not_found",
            "message": "no organization 'nope' (give its id or its slug)",
        }


async def test_deleting_an_organization_revokes_its_keys(
    client: httpx.AsyncClient, admin_runtime: Authward
) -> None:
    headers = await bearer(admin_runtime, "admin-machine-user")
    await client.post("/v1/organizations", json={"slug": "acme", "name": "A"}, headers=headers)
    key = (
        await client.post("/v1/api-keys", json={"name": "ci", "org_id": "acme"}, headers=headers)
    ).json()
    await admin_runtime.api_keys.verify(key["key"])
    assert (await client.delete("/v1/organizations/acme", headers=headers)).status_code == 204
    with pytest.raises(TokenError) as err:
        await admin_runtime.api_keys.verify(key["key"])
    assert err.value.reason == "api-key-revoked"
    listed = await client.get(
        "/v1/api-keys", params={"org_id": key["org_id"], "include_revoked": True}, headers=headers
    )
    assert [(k["id"], k["status"]) for k in listed.json()["items"]] == [(key["id"], "revoked")]


async def test_sessions(client: httpx.AsyncClient, admin_runtime: Authward) -> None:
    headers = await bearer(admin_runtime, "admin-machine-user")
    sessions = admin_runtime.sessions
    await admin_runtime.organizations.create("acme", "Acme")
    await admin_runtime.organizations.add_member("acme", "user-1", "member")
    laptop, first = await sessions.create(
        "user-1", active_org_id="acme", claims={"name": "Ada"}, ip="10.0.0.1", user_agent="UA"
    )
    phone, second = await sessions.create("user-1")
    theirs, _ = await sessions.create("user-2")
    tokens = {s: await sessions.mint_token(s) for s in (laptop, phone, theirs)}
    for token in tokens.values():
        await sessions.verify_token(token)

    listed = await client.get("/v1/users/user-1/sessions", headers=headers)
    assert listed.status_code == 200
    rows = listed.json()["items"]
    assert [r["id"] for r in rows] == [second.id, first.id]  # newest first
    assert rows[1]["active_org_id"] == first.active_org_id
    assert rows[1]["claims"] == {"name": "Ada"}
    assert (rows[1]["ip"], rows[1]["user_agent"], rows[1]["status"]) == ("10.0.0.1", "UA", "active")
    for secret in (laptop, phone):
        assert secret not in listed.text
        assert secret[5:] not in listed.text
    assert "digest" not in listed.text
    assert (await client.get("/v1/users/nobody/sessions", headers=headers)).json() == {
        "items": [],
        "next_cursor": None,
    }

    # Revoking one session: its tokens stop verifying at once, the others keep working.
    assert (await client.delete(f"/v1/sessions/{first.id}", headers=headers)).status_code == 204
    with pytest.raises(TokenError) as err:
        await sessions.verify_token(tokens[laptop])
    assert err.value.reason == "session-revoked"
    await sessions.verify_token(tokens[phone])
    # Again: still 204 (already ended); an unknown session is 404.
    assert (await client.delete(f"/v1/sessions/{first.id}", headers=headers)).status_code == 204
    unknown = await client.delete("/v1/sessions/sid_nope", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found", "message": "no such session"}

    active = (await client.get("/v1/users/user-1/sessions", headers=headers)).json()["items"]
    assert [r["id"] for r in active] == [second.id]
    everything = await client.get(
        "/v1/users/user-1/sessions", params={"include_inactive": True}, headers=headers
    )
    assert [(r["id"], r["status"]) for r in everything.json()["items"]] == [
        (second.id, "active"),
        (first.id, "revoked"),
    ]

    # Signing out everywhere.
    out = await client.delete("/v1/users/user-1/sessions", headers=headers)
    assert out.status_code == 200
    assert out.json() == {"revoked": 1}
    with pytest.raises(TokenError) as err:
        await sessions.verify_token(tokens[phone])
    assert err.value.reason == "session-revoked"
    await sessions.verify_token(tokens[theirs])
    assert (await client.delete("/v1/users/user-1/sessions", headers=headers)).json() == {
        "revoked": 0
    }
    assert (await client.get("/v1/users/user-1/sessions", headers=headers)).json()["items"] == []

    admin_id = await machine_user_id(admin_runtime, "admin-machine-user")
    revoked = [e for e in await admin_runtime.audit.recent() if e.kind == "session.revoked"]
    assert len(revoked) == 2
    assert all(e.actor == admin_id for e in revoked)


NEW_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/organizations", {"slug": "evil", "name": "Evil"}),
    ("GET", "/v1/organizations", None),
    ("GET", "/v1/organizations/acme", None),
    ("DELETE", "/v1/organizations/acme", None),
    ("GET", "/v1/organizations/acme/members", None),
    ("PUT", "/v1/organizations/acme/members/user-1", {"role": "admin"}),
    ("DELETE", "/v1/organizations/acme/members/user-1", None),
    ("GET", "/v1/users/user-1/sessions", None),
    ("DELETE", "/v1/sessions/sid_x", None),
    ("DELETE", "/v1/users/user-1/sessions", None),
]


@pytest.mark.parametrize(("method", "path", "body"), NEW_ENDPOINTS)
async def test_new_endpoints_are_refused_to_others(
    client: httpx.AsyncClient,
    admin_runtime: Authward,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    await admin_runtime.organizations.create("acme", "Acme")
    await admin_runtime.organizations.add_member("acme", "user-1", "member")
    _, session = await admin_runtime.sessions.create("user-1")
    reader = await bearer(admin_runtime, "readonly-machine-user")
    key, _ = await admin_runtime.api_keys.create("k", org_id="acme")

    for headers, status in [
        ({}, 401),
        (reader, 403),
        ({"Authorization": f"Bearer {key}"}, 401),
    ]:
        refused = await client.request(method, path, json=body, headers=headers)
        assert refused.status_code == status, (headers, refused.text)
    assert (await client.request(method, path, json=body)).json()["error"] != "not_found"

    # Nothing changed.
    assert [o.slug for o in await admin_runtime.organizations.list()] == ["acme"]
    assert [m.role for m in await admin_runtime.organizations.members("acme")] == ["member"]
    assert [s.id for s in await admin_runtime.sessions.list("user-1")] == [session.id]


async def test_others_are_refused(client: httpx.AsyncClient, admin_runtime: Authward) -> None:
    assert (await client.get("/v1/api-keys")).status_code == 401
    reader = await bearer(admin_runtime, "readonly-machine-user")
    refused = await client.get("/v1/api-keys", headers=reader)
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    key, _ = await admin_runtime.api_keys.create("k", user_id="u")
    as_key = await client.get("/v1/api-keys", headers={"Authorization": f"Bearer {key}"})
    assert as_key.status_code == 401


async def test_openapi_is_published(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/v1/openapi.json")).json()
    assert spec["info"]["title"] == "authward management API"
    assert {
        "/api-keys",
        "/api-keys/{key_id}",
        "/organizations",
        "/organizations/{org}",
        "/organizations/{org}/members",
        "/organizations/{org}/members/{user_id}",
        "/users/{user_id}/sessions",
        "/sessions/{session_id}",
    } <= set(spec["paths"])
    assert set(spec["paths"]["/organizations/{org}/members/{user_id}"]) == {"get", "put", "delete"}
    assert set(spec["paths"]["/users/{user_id}/sessions"]) == {"get", "delete"}
    # How to call it, for any OpenAPI tool: a bearer token on every operation.
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["security"] == [{"bearerAuth": []}]
    # One error shape: every 4xx of every operation, the chain's 401 and 403 included.
    error = {"$ref": "#/components/schemas/ErrorOut"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert {"401", "403"} <= set(answers), (method, path)
            for status, answer in answers.items():
                if status.startswith("4"):
                    assert answer["content"] == {"application/json": {"schema": error}}
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_off_by_default_and_unknown_admins_refused_at_start(
    sqlite_runtime: Authward,
    settings_for: SettingsFactory,
    example_config: Config,
    tmp_path: object,
) -> None:
    transport = httpx.ASGITransport(app=build_app(sqlite_runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        assert (await c.get("/v1/api-keys")).status_code == 404
    bad = await Authward.open(
        example_config,
        sqlite_runtime.settings.model_copy(update={"admin_machine_users": "nobody"}),
    )
    try:
        with pytest.raises(ConfigError, match=r"AUTHWARD_ADMIN_MACHINE_USERS: .*nobody"):
            build_app(bad)
    finally:
        await bad.close()


async def test_out_of_range_numbers_and_unreadable_bodies_are_refused_not_500(
    client: httpx.AsyncClient, admin_runtime: Authward
) -> None:
    headers = await bearer(admin_runtime, "admin-machine-user")
    for lifetime in (1e30, 10**30, 315_360_001, 1e308):
        refused = await client.post(
            "/v1/api-keys",
            json={"name": "ci", "user_id": "u1", "expires_in_seconds": lifetime},
            headers=headers,
        )
        assert refused.status_code == 422, (lifetime, refused.text)
        assert [e["loc"] for e in refused.json()["errors"]] == [["body", "expires_in_seconds"]]
    assert await admin_runtime.api_keys.list(include_revoked=True) == []
    ten_years = await client.post(
        "/v1/api-keys",
        json={"name": "ci", "user_id": "u1", "expires_in_seconds": 315_360_000},
        headers=headers,
    )
    assert ten_years.status_code == 201
    assert ten_years.json()["expires_at"].startswith(str(datetime.now(UTC).year + 10))
    runs = await client.get("/v1/runs", params={"limit": "1e30"}, headers=headers)
    assert runs.status_code == 422

    # A body that is not text: the documented refusal, not FastAPI's bare {"detail": ...}.
    unreadable = await client.post(
        "/v1/organizations",
        content=b'{"slug": "\xff\xfe"}',
        headers={**headers, "content-type": "application/json"},
    )
    assert unreadable.status_code == 400, unreadable.text
    assert unreadable.json()["error"] == "invalid_request"
    assert unreadable.json()["message"]


async def test_text_no_store_can_hold_is_refused_not_500(
    client: httpx.AsyncClient, admin_runtime: Authward
) -> None:
    """PostgreSQL refuses NUL in text: a NUL in a body is malformed input (422) on both stores,
    and a path with a control character or a query with a NUL is 400 before routing."""
    headers = await bearer(admin_runtime, "admin-machine-user")
    await client.post("/v1/organizations", json={"slug": "acme", "name": "A"}, headers=headers)
    nul = "a\x00b"
    malformed = [
        ("POST", "/v1/organizations", {"slug": "acme2", "name": nul}, ["body", "name"]),
        ("POST", "/v1/api-keys", {"name": "ci", "user_id": nul}, ["body", "user_id"]),
        ("POST", "/v1/api-keys", {"name": "ci", "org_id": "acme", "scopes": [nul]}, None),
        ("PUT", "/v1/organizations/acme/members/u1", {"role": nul}, ["body", "role"]),
    ]
    for method, path, body, loc in malformed:
        refused = await client.request(method, path, json=body, headers=headers)
        assert refused.status_code == 422, (method, path, refused.text)
        if loc is not None:
            assert [e["loc"] for e in refused.json()["errors"]] == [loc]
    assert [o.slug for o in await admin_runtime.organizations.list()] == ["acme"]
    assert await admin_runtime.api_keys.list(include_revoked=True) == []

    for path in (
        "/v1/organizations/a%00b",
        "/v1/organizations/a%0Ab",
        "/v1/runs/x%7F",
        "/v1/api-keys?user_id=a%00b",
        "/v1/runs?account_id=a%00b",
    ):
        refused = await client.get(path, headers=headers)
        assert refused.status_code == 400, (path, refused.text)
        assert refused.json()["error"] == "invalid_request"
