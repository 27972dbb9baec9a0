"""A refresh grant's absolute lifetime (RFC 9700 §4.14, ASVS 10.4.8) and the rotation grace window
for a client that lost the answer to a rotation, on SQLite and PostgreSQL, through the token
endpoint over HTTP with Authlib's client.

Time passes by moving every stored grant time back (what the store sees after that long), so no
test sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from authlib.integrations.base_client.errors import OAuthError
from sqlalchemy import func, select, text, update

from authward.config import Config
from authward.errors import TokenError
from authward.runtime import Authward
from authward.store.schema import audit_events, grants
from tests.conftest import SettingsFactory
from tests.integration.oauth_support import (
    REDIRECT,
    DpopKey,
    authlib_client,
    credentials,
    http,
    issue_code,
    make_user,
    new_verifier,
    oauth_config,
)

IDLE = 3600
ABSOLUTE = 7200
CLIENTS: dict[str, Any] = {
    # a two-hour grant of one-hour tokens; the default grace (30 s)
    "capped": {
        "redirect_uris": [REDIRECT],
        "refresh_token_lifetime_seconds": IDLE,
        "refresh_token_absolute_lifetime_seconds": ABSOLUTE,
    },
    # every setting left to the instance
    "plain": {"redirect_uris": [REDIRECT]},
    # no grace: strict rotation, as before
    "strict": {"redirect_uris": [REDIRECT], "refresh_token_rotation_grace_seconds": 0},
    # a browser app: its refresh tokens are bound to its DPoP key
    "browser": {"redirect_uris": [REDIRECT], "public": True},
}


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    runtime = await Authward.open(
        oauth_config(example_config, CLIENTS), settings_for(database_url), migrate=True
    )
    yield runtime
    await runtime.close()


def token_url(aw: Authward) -> str:
    return aw.issuer + "/oauth2/token"


async def authorize(
    aw: Authward, client: str, username: str = "alice@example.com"
) -> tuple[str, str, dict[str, Any]]:
    """``client``'s id, secret and first tokens for a new user (code flow, with Authlib)."""
    user = await make_user(aw, username)
    client_id, secret = await credentials(aw, client)
    verifier = new_verifier()
    code = await issue_code(aw, client_id, user, verifier)
    async with authlib_client(aw, client_id, secret, redirect_uri=REDIRECT) as oc:
        tokens = await oc.fetch_token(token_url(aw), code=code, code_verifier=verifier)
    return client_id, secret, dict(tokens)


async def refresh(aw: Authward, client: tuple[str, str], refresh_token: str) -> dict[str, Any]:
    async with authlib_client(aw, *client) as oc:
        return dict(await oc.refresh_token(token_url(aw), refresh_token=refresh_token))


async def refused(aw: Authward, client: tuple[str, str], refresh_token: str) -> str:
    """The error code of a refresh the token endpoint refuses."""
    with pytest.raises(OAuthError) as caught:
        await refresh(aw, client, refresh_token)
    return str(caught.value.error)


async def travel(aw: Authward, seconds: int) -> None:
    """Let ``seconds`` pass for the stored grants: every time they hold moves back."""
    back = timedelta(seconds=seconds)
    async with aw.engine.begin() as conn:
        for row in (await conn.execute(select(grants))).mappings().all():
            data = dict(row["data"])
            if "grant_exp" in data:
                data["grant_exp"] = (datetime.fromisoformat(data["grant_exp"]) - back).isoformat()
            await conn.execute(
                update(grants)
                .where(grants.c.digest == row["digest"])
                .values(
                    data=data,
                    created_at=row["created_at"] - back,
                    expires_at=row["expires_at"] - back,
                    used_at=row["used_at"] - back if row["used_at"] else None,
                )
            )


async def refresh_rows(aw: Authward) -> list[Any]:
    async with aw.engine.connect() as conn:
        query = select(grants).where(grants.c.kind.in_(["code", "refresh"]))
        return list((await conn.execute(query.order_by(grants.c.created_at))).all())


async def audit_kinds(aw: Authward) -> list[str]:
    async with aw.engine.connect() as conn:
        rows = await conn.execute(select(audit_events.c.kind).order_by(audit_events.c.id))
        return list(rows.scalars())


async def assert_revoked(aw: Authward, client: tuple[str, str], tokens: dict[str, Any]) -> None:
    """The grant of ``tokens`` is over: its refresh token and access token are refused."""
    assert await refused(aw, client, tokens["refresh_token"]) == "invalid_grant"
    with pytest.raises(TokenError):
        await aw.verify_access_token(tokens["access_token"])


# -- absolute lifetime -------------------------------------------------------------------------


async def test_the_grant_ends_at_its_absolute_lifetime_however_often_it_rotates(
    aw: Authward,
) -> None:
    client_id, secret, first = await authorize(aw, "capped")
    client = (client_id, secret)
    code, token = await refresh_rows(aw)
    end = code.created_at + timedelta(seconds=ABSOLUTE)
    assert token.expires_at - token.created_at == timedelta(seconds=IDLE)  # the idle lifetime
    await travel(aw, 3000)
    second = await refresh(aw, client, first["refresh_token"])
    await travel(aw, 3000)  # 6000 s into a 7200 s grant: the next token gets 1200 s, not 3600
    third = await refresh(aw, client, second["refresh_token"])
    end -= timedelta(seconds=6000)  # where the grant's end is after the travels
    latest = (await refresh_rows(aw))[-1]
    assert latest.expires_at == end
    assert latest.expires_at - latest.created_at <= timedelta(seconds=ABSOLUTE - 6000)
    await aw.verify_access_token(third["access_token"])
    # 1300 s after its rotation the latest token is well within its idle hour, but the grant
    # is over.
    await travel(aw, 1300)
    assert await refused(aw, client, third["refresh_token"]) == "invalid_grant"


async def test_the_absolute_lifetime_defaults_to_the_instances(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    settings = settings_for(
        database_url,
        default_refresh_token_lifetime_seconds=600,
        default_refresh_token_absolute_lifetime_seconds=900,
    )
    aw = await Authward.open(oauth_config(example_config, CLIENTS), settings, migrate=True)
    try:
        client_id, secret, first = await authorize(aw, "plain")
        await travel(aw, 500)
        second = await refresh(aw, (client_id, secret), first["refresh_token"])
        code, _, latest = await refresh_rows(aw)
        assert latest.expires_at == code.created_at + timedelta(seconds=900)
        await travel(aw, 401)
        assert await refused(aw, (client_id, secret), second["refresh_token"]) == "invalid_grant"
    finally:
        await aw.close()


# -- rotation grace ----------------------------------------------------------------------------


async def test_a_lost_rotation_is_retried_within_the_grace_window(aw: Authward) -> None:
    client_id, secret, first = await authorize(aw, "capped")
    client = (client_id, secret)
    lost = await refresh(aw, client, first["refresh_token"])  # the answer never reached it
    await travel(aw, 20)
    retried = await refresh(aw, client, first["refresh_token"])
    assert retried["refresh_token"] not in (first["refresh_token"], lost["refresh_token"])
    await aw.verify_access_token(retried["access_token"])
    # The grant lives on: the retried answer's refresh token rotates as usual ...
    later = await refresh(aw, client, retried["refresh_token"])
    await aw.verify_access_token(later["access_token"])
    # ... and keeps the grant's end.
    code, *_, latest = await refresh_rows(aw)
    assert latest.expires_at <= code.created_at + timedelta(seconds=ABSOLUTE)
    # The lost answer's access token no longer works (whoever holds it).
    with pytest.raises(TokenError):
        await aw.verify_access_token(lost["access_token"])
    kinds = await audit_kinds(aw)
    assert "grant.refresh_reused" not in kinds
    assert kinds.count("token.refreshed") == 3


async def test_the_lost_answer_used_after_a_retry_is_a_replay(aw: Authward) -> None:
    client_id, secret, first = await authorize(aw, "capped")
    client = (client_id, secret)
    lost = await refresh(aw, client, first["refresh_token"])
    retried = await refresh(aw, client, first["refresh_token"])
    # Two holders of one grant: whoever comes second with the other branch ends it for both.
    assert await refused(aw, client, lost["refresh_token"]) == "invalid_grant"
    await assert_revoked(aw, client, retried)
    assert "grant.refresh_reused" in await audit_kinds(aw)


async def test_a_retry_after_the_grace_window_revokes_the_grant(aw: Authward) -> None:
    client_id, secret, first = await authorize(aw, "capped")
    client = (client_id, secret)
    await refresh(aw, client, first["refresh_token"])
    retried = await refresh(aw, client, first["refresh_token"])
    await travel(aw, 31)  # the default grace is 30 s
    assert await refused(aw, client, first["refresh_token"]) == "invalid_grant"
    await assert_revoked(aw, client, retried)
    assert "grant.refresh_reused" in await audit_kinds(aw)


async def test_a_retry_after_the_successor_was_used_is_a_replay(aw: Authward) -> None:
    client_id, secret, first = await authorize(aw, "capped")
    client = (client_id, secret)
    await refresh(aw, client, first["refresh_token"])
    retried = await refresh(aw, client, first["refresh_token"])
    newest = await refresh(aw, client, retried["refresh_token"])  # the successor is used
    # Still within the window, but the token's successor has been used: a replay.
    assert await refused(aw, client, first["refresh_token"]) == "invalid_grant"
    await assert_revoked(aw, client, newest)


async def test_the_grace_window_is_per_client(aw: Authward) -> None:
    capped = await authorize(aw, "capped")
    strict = await authorize(aw, "strict", "bob@example.com")
    for client_id, secret, first in (capped, strict):
        await refresh(aw, (client_id, secret), first["refresh_token"])
    # 0 s of grace: any second use is a replay.
    strict_client = (strict[0], strict[1])
    assert await refused(aw, strict_client, strict[2]["refresh_token"]) == "invalid_grant"
    await refresh(aw, (capped[0], capped[1]), capped[2]["refresh_token"])


async def test_a_retry_races_its_successor_across_two_runtimes(
    aw: Authward, database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    other = await Authward.open(
        oauth_config(example_config, CLIENTS), settings_for(database_url), migrate=False
    )
    try:
        client_id, secret, first = await authorize(aw, "capped")
        client = (client_id, secret)
        lost = await refresh(aw, client, first["refresh_token"])
        # The other process takes the retry of this one's rotation.
        retried = await refresh(other, client, first["refresh_token"])
        second = await refresh(aw, client, retried["refresh_token"])
        answer = await refresh(other, client, second["refresh_token"])
        # A retry of the last rotation and the use of its answer race at two processes: one
        # gets tokens, and the other is a replay that ends the grant, the winner's tokens too.
        outcomes = await asyncio.gather(
            refresh(aw, client, second["refresh_token"]),
            refresh(other, client, answer["refresh_token"]),
            return_exceptions=True,
        )
        won = [o for o in outcomes if isinstance(o, dict)]
        lost_race = [o for o in outcomes if isinstance(o, OAuthError)]
        assert len(won) == 1
        assert [o.error for o in lost_race] == ["invalid_grant"]
        assert await refused(other, client, won[0]["refresh_token"]) == "invalid_grant"
        assert await refused(aw, client, won[0]["refresh_token"]) == "invalid_grant"
        assert lost["refresh_token"] != retried["refresh_token"]
    finally:
        await other.close()


async def test_a_retry_needs_what_the_token_needs(aw: Authward) -> None:
    user = await make_user(aw)
    browser_id, _ = await credentials(aw, "browser")
    key = DpopKey()
    verifier = new_verifier()
    code = await issue_code(aw, browser_id, user, verifier)
    url = token_url(aw)

    async def post(form: dict[str, str], proof: str | None = None, **kw: Any) -> Any:
        async with http(aw) as client:
            headers = {"DPoP": proof} if proof else {}
            return await client.post("/oauth2/token", data=form, headers=headers, **kw)

    first = await post(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": browser_id,
        },
        key.proof(url),
    )
    retry = {
        "grant_type": "refresh_token",
        "refresh_token": first.json()["refresh_token"],
        "client_id": browser_id,
    }
    assert (await post(retry, key.proof(url))).status_code == 200  # the lost answer
    # Within the window, a retry still needs the token's DPoP key and its client; refusing
    # one that lacks them spends nothing.
    for proof in (None, DpopKey().proof(url)):
        response = await post(retry, proof)
        assert response.json()["error"] == "invalid_dpop_proof"
    capped = await credentials(aw, "capped")
    form = {k: v for k, v in retry.items() if k != "client_id"}
    response = await post(form, key.proof(url), auth=capped)
    assert response.json()["error"] == "invalid_grant"
    retried = await post(retry, key.proof(url))
    assert retried.status_code == 200
    # The retried answer's refresh token is bound to the same key.
    again = {**retry, "refresh_token": retried.json()["refresh_token"]}
    response = await post(again, DpopKey().proof(url))
    assert response.json()["error"] == "invalid_dpop_proof"
    assert (await post(again, key.proof(url))).status_code == 200


async def until_a_statement_waits_for_a_lock(aw: Authward, waiter: asyncio.Task[Any]) -> None:
    waiting = (
        select(func.count())
        .select_from(text("pg_stat_activity"))
        .where(text("datname = current_database() AND wait_event_type = 'Lock'"))
    )
    async with aw.engine.connect() as conn:
        for _ in range(3000):
            found = (await conn.execute(waiting)).scalar()
            # PostgreSQL keeps one snapshot of pg_stat_activity per transaction: each look
            # must be a transaction of its own, or it sees the first look again and again.
            await conn.rollback()
            if found:
                return
            if waiter.done():  # it never waited: say how it ended
                raise AssertionError(f"the revocation did not wait for the lock: {waiter!r}")
            await asyncio.sleep(0.01)
    raise AssertionError("the revocation never waited for the rotation's lock")


async def test_a_grant_revocation_sees_a_rotation_that_commits_while_it_waits(
    postgres_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    aw = await Authward.open(
        oauth_config(example_config, CLIENTS), settings_for(postgres_url), migrate=True
    )
    try:
        await authorize(aw, "capped")
        *_, token = await refresh_rows(aw)
        successor = token.digest[::-1]
        # Another process rotates the token: its row is locked and the successor inserted, but
        # not committed yet when the grant is revoked here.
        async with aw.engine.connect() as rotation:
            commit = await rotation.begin()
            now = datetime.now(UTC)
            await rotation.execute(
                update(grants).where(grants.c.digest == token.digest).values(used_at=now)
            )
            await rotation.execute(
                grants.insert().values(
                    {**token._asdict(), "digest": successor, "created_at": now, "used_at": None}
                )
            )
            revoking = asyncio.create_task(
                aw.oauth.revocation.revoke_family(token.family_id, "test")
            )
            await until_a_statement_waits_for_a_lock(aw, revoking)
            await commit.commit()
        await revoking
        async with aw.engine.connect() as conn:
            query = select(grants.c.revoked_at).where(grants.c.digest == successor)
            assert (await conn.execute(query)).scalar() is not None
    finally:
        await aw.close()
