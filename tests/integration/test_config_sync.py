"""Config sync on SQLite and PostgreSQL: another app's config never deletes or re-keys the
machine users and clients of the first one unless asked to prune (decision 035)."""

from __future__ import annotations

import pytest

from authward import define_auth, define_config
from authward.config import Config
from authward.errors import PruneRequired, TokenError
from authward.runtime import Authward
from tests.conftest import SettingsFactory


def _other_app() -> Config:
    """Another app on the same database: its own machine user, none of the example's."""
    return define_config(
        auth=define_auth(
            "other-auth",
            machine_users={"other-machine-user": {"attributes": {}, "attribute_list": []}},
        )
    )


async def _credentials(aw: Authward) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for mu in await aw.machine_users.list():
        secret = await aw.machine_users.client_secret(mu.name)
        assert secret is not None
        out[f"machine user {mu.name}"] = (mu.client_id, secret.get_secret_value())
    for c in await aw.clients.list():
        secret = await aw.clients.client_secret(c.name)
        assert secret is not None
        out[f"oauth2 client {c.name}"] = (c.client_id, secret.get_secret_value())
    return out


async def test_another_app_reading_the_store_changes_nothing(
    runtime: Authward, database_url: str, settings_for: SettingsFactory
) -> None:
    before = await _credentials(runtime)
    token = await runtime.machine_user_token("admin-machine-user")
    other = await Authward.open(_other_app(), settings_for(database_url), sync=False)
    try:
        assert [str(c) for c in await other.sync_plan()] == [
            "added machine user other-machine-user",
            "removed machine user admin-machine-user",
            "removed machine user readonly-machine-user",
            "removed oauth2 client my-oauth2-client",
        ]
        assert await other.machine_users.get("other-machine-user") is None
    finally:
        await other.close()
    assert await _credentials(runtime) == before
    runtime.verifier.invalidate()
    assert (await runtime.verify_access_token(token)).attributes == {"role": "ADMIN"}


async def test_another_app_syncing_is_refused_and_changes_nothing(
    runtime: Authward, database_url: str, settings_for: SettingsFactory
) -> None:
    before = await _credentials(runtime)
    with pytest.raises(PruneRequired) as refused:
        await Authward.open(_other_app(), settings_for(database_url))
    assert refused.value.would_remove == (
        "machine user admin-machine-user",
        "machine user readonly-machine-user",
        "oauth2 client my-oauth2-client",
    )
    assert "--prune" in str(refused.value)
    assert "\n" not in str(refused.value)
    # Nothing was written, not even the other app's own machine user.
    assert await _credentials(runtime) == before
    assert await runtime.machine_users.get("other-machine-user") is None


async def test_prune_deletes_and_ends_the_tokens(
    runtime: Authward, database_url: str, settings_for: SettingsFactory
) -> None:
    token = await runtime.machine_user_token("admin-machine-user")
    other = await Authward.open(_other_app(), settings_for(database_url), sync=False)
    try:
        assert await other.sync(prune=True) == [
            "added machine user other-machine-user",
            "removed machine user admin-machine-user",
            "removed machine user readonly-machine-user",
            "removed oauth2 client my-oauth2-client",
        ]
        assert list(await _credentials(other)) == ["machine user other-machine-user"]
    finally:
        await other.close()
    runtime.verifier.invalidate()
    with pytest.raises(TokenError) as err:
        await runtime.verify_access_token(token)
    assert err.value.reason == "token-subject-unknown"


async def test_the_prune_setting_prunes(
    runtime: Authward, database_url: str, settings_for: SettingsFactory
) -> None:
    other = await Authward.open(_other_app(), settings_for(database_url, sync_prune=True))
    try:
        assert list(await _credentials(other)) == ["machine user other-machine-user"]
    finally:
        await other.close()


async def test_a_changed_client_keeps_its_id_and_secret(
    runtime: Authward,
    database_url: str,
    settings_for: SettingsFactory,
    example_config: Config,
) -> None:
    before = await _credentials(runtime)
    auth = example_config.auth
    client = auth.oauth2_clients["my-oauth2-client"]
    changed = define_auth(
        auth.name,
        user_profile={
            "type": auth.user_profile.type,  # type: ignore[union-attr]
            "username_field": "email",
            "attributes": {"role": True},
            "attribute_list": ["organization_id", "team_id"],
        },
        machine_users={
            name: {
                "attributes": dict(mu.attributes),  # type: ignore[typeddict-item]
                "attribute_list": [str(u) for u in mu.attribute_list],
            }
            for name, mu in auth.machine_users.items()
        },
        oauth2_clients={
            "my-oauth2-client": {
                "description": client.description,
                "redirect_uris": ["https://example.com/new-callback"],
                "grant_types": list(client.grant_types),
                "access_token_lifetime_seconds": client.access_token_lifetime_seconds,
                "refresh_token_lifetime_seconds": client.refresh_token_lifetime_seconds,
                "require_dpop": False,
            }
        },
    )
    again = await Authward.open(
        define_config(auth=changed, db=example_config.db_types),
        settings_for(database_url),
        sync=False,
    )
    try:
        changes = await again.sync()
        assert changes == ["changed oauth2 client my-oauth2-client (redirect_uris, require_dpop)"]
        stored = await again.clients.get("my-oauth2-client")
        assert stored is not None
        assert list(stored.redirect_uris) == ["https://example.com/new-callback"]
        assert await _credentials(again) == before
        assert await again.sync() == []
    finally:
        await again.close()
