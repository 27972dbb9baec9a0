"""Two authward runtimes on one PostgreSQL database, as two server processes would be: codes,
refresh tokens and revocations are state in the database, so either one sees the other's.
(``invalidate()`` stands for the cache interval passing, without waiting for it.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from authward.config import Config
from authward.errors import TokenError
from authward.runtime import Authward
from tests.conftest import SettingsFactory
from tests.integration.oauth_support import (
    REDIRECT,
    credentials,
    http,
    issue_code,
    make_user,
    new_verifier,
    oauth_config,
)


@pytest.fixture
async def pair(
    postgres_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[tuple[Authward, Authward]]:
    config = oauth_config(example_config)
    first = await Authward.open(config, settings_for(postgres_url), migrate=True)
    second = await Authward.open(config, settings_for(postgres_url), migrate=False)
    yield first, second
    await second.close()
    await first.close()


async def redeem(aw: Authward, code: str, verifier: str) -> dict[str, str]:
    client_id, secret = await credentials(aw, "web")
    async with http(aw) as c:
        response = await c.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=(client_id, secret),
        )
    body: dict[str, str] = response.json()
    body["status"] = str(response.status_code)
    return body


async def refresh(aw: Authward, token: str) -> dict[str, str]:
    client_id, secret = await credentials(aw, "web")
    async with http(aw) as c:
        response = await c.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": token},
            auth=(client_id, secret),
        )
    body: dict[str, str] = response.json()
    body["status"] = str(response.status_code)
    return body


async def test_code_from_one_is_redeemed_once_at_the_other(
    pair: tuple[Authward, Authward],
) -> None:
    a, b = pair
    user = await make_user(a)
    web_id, _ = await credentials(a, "web")
    verifier = new_verifier()
    code = await issue_code(a, web_id, user, verifier)
    tokens = await redeem(b, code, verifier)
    assert tokens["status"] == "200"
    await a.verify_access_token(tokens["access_token"])
    # The replay at the first runtime is refused and revokes what the second one issued.
    replay = await redeem(a, code, verifier)
    assert replay["error"] == "invalid_grant"
    b.verifier.invalidate()
    with pytest.raises(TokenError):
        await b.verify_access_token(tokens["access_token"])


async def test_refresh_and_reuse_across_runtimes(pair: tuple[Authward, Authward]) -> None:
    a, b = pair
    user = await make_user(a)
    web_id, _ = await credentials(a, "web")
    verifier = new_verifier()
    first = await redeem(a, await issue_code(a, web_id, user, verifier), verifier)
    second = await refresh(b, first["refresh_token"])
    assert second["status"] == "200"
    # Once its successor has been used, the rotated-out token is a replay (not a retry within
    # the rotation grace).
    third = await refresh(a, second["refresh_token"])
    assert third["status"] == "200"
    assert (await refresh(a, first["refresh_token"]))["error"] == "invalid_grant"
    b.verifier.invalidate()
    with pytest.raises(TokenError):
        await b.verify_access_token(third["access_token"])
    assert (await refresh(b, third["refresh_token"]))["error"] == "invalid_grant"


async def test_revocation_at_one_is_seen_at_the_other(pair: tuple[Authward, Authward]) -> None:
    a, b = pair
    user = await make_user(a)
    web_id, secret = await credentials(a, "web")
    verifier = new_verifier()
    tokens = await redeem(a, await issue_code(a, web_id, user, verifier), verifier)
    await b.verify_access_token(tokens["access_token"])
    async with http(a) as c:
        response = await c.post(
            "/oauth2/revoke", data={"token": tokens["access_token"]}, auth=(web_id, secret)
        )
    assert response.status_code == 200
    b.verifier.invalidate()
    with pytest.raises(TokenError) as caught:
        await b.verify_access_token(tokens["access_token"])
    assert caught.value.reason == "token-revoked"
    async with http(b) as c:
        response = await c.post(
            "/oauth2/revoke", data={"token": tokens["refresh_token"]}, auth=(web_id, secret)
        )
    assert response.status_code == 200
    assert (await refresh(a, tokens["refresh_token"]))["error"] == "invalid_grant"


async def test_racing_redemptions_issue_once(pair: tuple[Authward, Authward]) -> None:
    """The same code sent to both runtimes at once: one wins, the loser's replay revokes the
    winner's tokens (RFC 6749 §4.1.2), whichever order the database serialised them in."""
    a, b = pair
    user = await make_user(a)
    web_id, _ = await credentials(a, "web")
    verifier = new_verifier()
    code = await issue_code(a, web_id, user, verifier)
    results = await asyncio.gather(redeem(a, code, verifier), redeem(b, code, verifier))
    assert sorted(r["status"] for r in results) == ["200", "400"]
    [winner] = [r for r in results if r["status"] == "200"]
    for runtime in (a, b):
        runtime.verifier.invalidate()
        with pytest.raises(TokenError):
            await runtime.verify_access_token(winner["access_token"])
