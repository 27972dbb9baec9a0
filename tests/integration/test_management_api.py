"""The management API at /v1: off by default, open only to the named admin machine users."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from authward.config import Config
from authward.errors import ConfigError
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


async def test_admin_creates_lists_and_revokes_api_keys(
    client: httpx.AsyncClient, admin_runtime: Authward
) -> None:
    headers = await bearer(admin_runtime, "admin-machine-user")
    created = await client.post(
        "/v1/api-keys",
        json={"name": "ci", "org_id": "org_1", "scopes": ["reports:read"]},
        headers=headers,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("ak_")
    assert (await admin_runtime.api_keys.verify(body["key"])).org_id == "org_1"

    listed = (await client.get("/v1/api-keys", params={"org_id": "org_1"}, headers=headers)).json()
    assert [k["id"] for k in listed] == [body["id"]]
    assert body["key"] not in str(listed)
    assert listed[0]["status"] == "active"

    assert (await client.delete(f"/v1/api-keys/{body['id']}", headers=headers)).status_code == 204
    missing = await client.delete(
        "/v1/api-keys/00000000-0000-0000-0000-000000000000", headers=headers
    )
    assert missing.status_code == 404
    from authward.errors import TokenError

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
    assert "/api-keys" in spec["paths"]


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
