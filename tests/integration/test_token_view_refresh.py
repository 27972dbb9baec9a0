"""The access-token view of one process follows what another process writes, reading only what
changed (decision 041), on SQLite and PostgreSQL: two runtimes on one store stand for two
processes, and a clock the test moves stands for the refresh interval passing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from authward import define_auth, define_config
from authward.config import Config
from authward.errors import TokenError
from authward.runtime import Authward
from authward.store.changes import bump
from authward.store.engine import begin_write
from authward.store.schema import changes, revoked_tokens
from tests.conftest import SettingsFactory


class StepClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pair(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[tuple[Authward, Authward, StepClock]]:
    """The writer, and the reader whose view ages by the test's clock (loaded once)."""
    settings = settings_for(database_url)
    writer = await Authward.open(example_config, settings, migrate=True)
    reader = await Authward.open(example_config, settings)
    clock = StepClock()
    reader.verifier.monotonic = clock
    await reader.verifier.get()
    yield writer, reader, clock
    await reader.close()
    await writer.close()


async def interval_passes(reader: Authward, clock: StepClock) -> None:
    """As ``cache_refresh_seconds`` passing does: the next use reloads the view."""
    clock.now += reader.settings.cache_refresh_seconds
    await reader.verifier.get()


async def reason(aw: Authward, token: str) -> str:
    with pytest.raises(TokenError) as err:
        await aw.verify_access_token(token)
    return err.value.reason


async def test_a_revocation_is_refused_by_the_other_process_within_the_interval(
    pair: tuple[Authward, Authward, StepClock],
) -> None:
    writer, reader, clock = pair
    revoked, kept = [await writer.machine_user_token("admin-machine-user") for _ in range(2)]
    await reader.verify_access_token(revoked)
    full_loads = reader.verifier.views.full_loads
    assert await writer.revoke_token(revoked) is True

    clock.now += reader.settings.cache_refresh_seconds * 0.4
    await reader.verify_access_token(revoked)  # the view is young: not read again yet
    await interval_passes(reader, clock)
    assert await reason(reader, revoked) == "token-revoked"
    await reader.verify_access_token(kept)
    # Read as a change, not by reading everything again.
    assert reader.verifier.views.full_loads == full_loads


async def test_keys_and_machine_users_changed_elsewhere_are_read_as_changes(
    pair: tuple[Authward, Authward, StepClock],
    database_url: str,
    settings_for: SettingsFactory,
    example_config: Config,
) -> None:
    writer, reader, clock = pair
    full_loads = reader.verifier.views.full_loads
    kept_view = await reader.verifier.get()

    await interval_passes(reader, clock)
    unchanged = await reader.verifier.get()
    assert unchanged is not kept_view
    # Nothing changed: the parsed keys and the directory are the same objects, not re-read.
    assert all(unchanged.keys[kid] is key for kid, key in kept_view.keys.items())
    assert unchanged.machine_users is kept_view.machine_users

    rotated = (await writer.rotate_keys())[0]
    token = await writer.machine_user_token("readonly-machine-user")
    await interval_passes(reader, clock)
    assert (await reader.verify_access_token(token)).principal_type == "machine"
    assert rotated.kid in (await reader.verifier.get()).keys

    auth = example_config.auth
    smaller = define_config(
        auth=define_auth(
            auth.name,
            user_profile={
                "type": auth.user_profile.type,  # type: ignore[union-attr]
                "username_field": "email",
                "attributes": {"role": True},
                "attribute_list": ["organization_id", "team_id"],
            },
            machine_users={
                "admin-machine-user": {
                    "attributes": {"role": "ADMIN"},
                    "attribute_list": [
                        str(u) for u in auth.machine_users["admin-machine-user"].attribute_list
                    ],
                }
            },
        )
    )
    shrunk = await Authward.open(smaller, settings_for(database_url, sync_prune=True))
    await shrunk.close()
    await interval_passes(reader, clock)
    assert await reason(reader, token) == "token-subject-unknown"
    assert reader.verifier.views.full_loads == full_loads


async def test_a_counter_that_went_back_makes_the_next_load_read_everything(
    pair: tuple[Authward, Authward, StepClock],
) -> None:
    writer, reader, clock = pair
    token = await writer.machine_user_token("admin-machine-user")
    await writer.revoke_token(token)
    await interval_passes(reader, clock)
    full_loads = reader.verifier.views.full_loads
    # As after a store was restored from a backup: a counter below the one the reader saw.
    async with begin_write(writer.engine) as conn:
        await conn.execute(
            update(changes).where(changes.c.table_name == revoked_tokens.name).values(version=0)
        )
    await interval_passes(reader, clock)
    assert reader.verifier.views.full_loads == full_loads + 1
    assert await reason(reader, token) == "token-revoked"


async def test_a_revocation_committed_after_a_later_one_is_not_missed(
    pair: tuple[Authward, Authward, StepClock], database_url: str
) -> None:
    """PostgreSQL commits concurrent writers in any order: the first revocation's transaction
    is still open when the second one is made. The second waits for the first's counter, so a
    refresh never sees the second without the first (a watermark on revoked_at would)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    writer, reader, clock = pair
    first, second = [await writer.machine_user_token("admin-machine-user") for _ in range(2)]
    jtis = [(await writer.verifier.verify_claims(t))["jti"] for t in (first, second)]
    expires = datetime.now(UTC) + timedelta(hours=1)
    now = datetime.now(UTC)
    async with begin_write(writer.engine) as conn:
        version = await bump(conn, revoked_tokens)
        await conn.execute(
            revoked_tokens.insert().values(
                jti=jtis[0], expires_at=expires, revoked_at=now, reason="test", version=version
            )
        )
        later = asyncio.create_task(
            writer.revocations.revoke(jtis[1], expires_at=expires, now=now, reason="test")
        )
        await asyncio.sleep(0.3)
        assert not later.done()  # it waits for the first writer's counter row
        await interval_passes(reader, clock)
        await reader.verify_access_token(second)
    assert await later is True
    await interval_passes(reader, clock)
    assert await reason(reader, first) == "token-revoked"
    assert await reason(reader, second) == "token-revoked"


async def test_a_revocation_leaves_the_view_once_its_token_has_expired(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    """By the expiry the store computed, and without coming back on the next reads."""
    aw = await Authward.open(
        example_config, settings_for(database_url, token_leeway_seconds=0), migrate=True
    )
    try:
        token = await aw.machine_user_token("admin-machine-user", lifetime_seconds=2)
        jti = (await aw.verifier.verify_claims(token))["jti"]
        await aw.revoke_token(token)
        assert jti in (await aw.verifier.reload()).revoked
        await asyncio.sleep(2.1)
        assert jti not in (await aw.verifier.reload()).revoked
        assert jti not in (await aw.verifier.reload()).revoked
        assert aw.verifier.views.full_loads == 1
    finally:
        await aw.close()
