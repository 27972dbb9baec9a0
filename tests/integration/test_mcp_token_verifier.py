"""authward.mcp's TokenVerifier for the SDK's own auth: only tokens issued for its resource, with
the principal authward makes of them; tokens of another audience, DPoP-bound or forged refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from authward.mcp import AuthwardTokenVerifier, PrincipalAccessToken
from authward.runtime import Authward
from tests.conftest import SettingsFactory
from tests.integration.resource_support import REPORTS, mcp_url, resource_config, signed_token


@pytest.fixture
async def aw(tmp_path: Path, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    opened = await Authward.open(resource_config(), settings_for(url), migrate=True)
    try:
        yield opened
    finally:
        await opened.close()


async def test_tokens_of_the_resource_only(aw: Authward) -> None:
    verifier = AuthwardTokenVerifier(
        aw.resource_verifier("mcp"), issuer=aw.issuer, resource=mcp_url(aw)
    )
    token = await signed_token(aw, scope="tools:read")
    accepted = await verifier.verify_token(token)
    assert isinstance(accepted, PrincipalAccessToken)
    assert accepted.scopes == ["tools:read"]
    assert accepted.resource == mcp_url(aw)
    assert accepted.claims == {"iss": aw.issuer}
    robot = await aw.machine_users.get("robot")
    assert robot is not None
    assert accepted.client_id == robot.client_id
    assert accepted.principal.principal_id == str(robot.id)
    assert accepted.principal.attributes["scopes"] == ("tools:read",)

    for refused in (
        await signed_token(aw, audience=REPORTS),
        await signed_token(aw, audience=aw.issuer),
        await signed_token(aw, cnf_jkt="0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"),
        await signed_token(aw, expires_at=1),
        token[:-4] + "AAAA",
        "not-a-token",
    ):
        assert await verifier.verify_token(refused) is None
