"""The grant store's contract (oauth/ports.py's ``GrantStorePort``), run on the in-memory fake
the OAuth core's unit tests use and on the real store (store/grants.py) on SQLite and
PostgreSQL, so the fake cannot drift from the store: what is redeemed once, what a retry within
the grace window takes over, what is refused and leaves everything as it was, and what revoking
a family ends and returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from authward.oauth.ports import GrantStorePort
from authward.store.engine import create_engine
from authward.store.grants import PARENT, GrantRow, GrantStore, NewGrant
from authward.store.migrate import migrate
from tests.fakes import MemoryGrantStore

NOW = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """Each test runs on the fake (``None``), then on the real store on SQLite and on
    PostgreSQL (tests/conftest.py's ``database_url``, plus the fake)."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    url = request.getfixturevalue("postgres_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
async def store(database_url: str | None) -> AsyncIterator[GrantStorePort]:
    if database_url is None:
        yield MemoryGrantStore()
        return
    engine = create_engine(database_url)
    await migrate(engine, ())
    yield GrantStore(engine)
    await engine.dispose()


def grant(
    digest: str,
    kind: str = "code",
    *,
    family: str = "f1",
    subject: str = "u1",
    client: str = "c1",
    expires: datetime = NOW + HOUR,
    **data: Any,
) -> NewGrant:
    return NewGrant(digest, kind, family, client, subject, data, expires)


def access(jti: str, *, family: str = "f1", expires: datetime = NOW + HOUR) -> NewGrant:
    return grant(f"jti:{jti}", "access", family=family, expires=expires, jti=jti)


def child(digest: str, parent: str, *, family: str = "f1") -> NewGrant:
    return NewGrant(digest, "refresh", family, "c1", "u1", {PARENT: parent}, NOW + HOUR)


def minting(
    *grants: NewGrant,
) -> tuple[Callable[[GrantRow], tuple[str, list[NewGrant]]], list[GrantRow]]:
    """A ``mint`` that issues ``grants`` and returns the digest it was called with, and the rows
    it saw."""
    seen: list[GrantRow] = []

    def mint(row: GrantRow) -> tuple[str, list[NewGrant]]:
        seen.append(row)
        return row.digest, list(grants)

    return mint, seen


def refusing(row: GrantRow) -> tuple[str, list[NewGrant]]:
    raise RuntimeError("minting failed")


async def stored(store: GrantStorePort, digest: str) -> GrantRow:
    row = await store.get(digest)
    assert row is not None
    return row


async def test_a_grant_is_read_back_as_added(store: GrantStorePort) -> None:
    await store.add(grant("d1", scopes=["read"], auth_time=1, sid=None), NOW)
    row = await stored(store, "d1")
    assert (row.kind, row.family_id, row.client_id, row.subject) == ("code", "f1", "c1", "u1")
    assert row.data == {"scopes": ["read"], "auth_time": 1, "sid": None}
    assert (row.created_at, row.expires_at) == (NOW, NOW + HOUR)
    assert (row.used_at, row.revoked_at) == (None, None)
    assert await store.get("unknown") is None


async def test_a_grant_is_redeemed_once_with_what_it_issued(store: GrantStorePort) -> None:
    await store.add(grant("code1"), NOW)
    mint, seen = minting(access("a1"), child("r1", "code1"))
    redeemed = await store.redeem("code1", "code", NOW, mint)
    assert redeemed.value == "code1"
    assert redeemed.superseded is None
    assert redeemed.row is not None
    assert redeemed.row.used_at == NOW
    assert [r.used_at for r in seen] == [NOW]
    issued = await stored(store, "r1")
    assert (issued.kind, issued.family_id, issued.created_at) == ("refresh", "f1", NOW)
    assert issued.data == {PARENT: "code1"}
    assert (await stored(store, "jti:a1")).data == {"jti": "a1"}

    later = NOW + timedelta(seconds=1)
    again, seen_again = minting(access("a2"))
    replay = await store.redeem("code1", "code", later, again, retry_since=NOW)
    assert replay.value is None
    assert replay.row is not None
    assert replay.row.used_at == NOW  # the first use, untouched
    assert seen_again == []
    assert await store.get("jti:a2") is None


@pytest.mark.parametrize(
    ("digest", "kind"), [("unknown", "code"), ("code1", "refresh")], ids=["unknown", "other-kind"]
)
async def test_an_unknown_grant_or_one_of_another_kind_is_not_redeemed(
    store: GrantStorePort, digest: str, kind: str
) -> None:
    await store.add(grant("code1"), NOW)
    mint, seen = minting(access("a1"))
    redeemed = await store.redeem(digest, kind, NOW, mint)
    assert (redeemed.row, redeemed.value, seen) == (None, None, [])
    assert (await stored(store, "code1")).used_at is None


async def test_an_expired_grant_is_not_redeemed_and_stays_unused(store: GrantStorePort) -> None:
    await store.add(grant("code1", expires=NOW), NOW - HOUR)
    mint, seen = minting(access("a1"))
    redeemed = await store.redeem("code1", "code", NOW, mint)
    assert redeemed.value is None
    assert redeemed.row is not None
    assert (redeemed.row.used_at, redeemed.row.expires_at) == (None, NOW)
    assert seen == []
    assert await store.get("jti:a1") is None


async def test_a_revoked_grant_is_not_redeemed(store: GrantStorePort) -> None:
    await store.add(grant("code1"), NOW)
    await store.revoke_family("f1", NOW)
    mint, seen = minting(access("a1"))
    redeemed = await store.redeem("code1", "code", NOW, mint)
    assert redeemed.value is None
    assert redeemed.row is not None
    assert (redeemed.row.used_at, redeemed.row.revoked_at) == (None, NOW)
    assert seen == []


async def test_when_minting_fails_nothing_changes(store: GrantStorePort) -> None:
    await store.add(grant("code1"), NOW)
    with pytest.raises(RuntimeError, match="minting failed"):
        await store.redeem("code1", "code", NOW, refusing)
    assert (await stored(store, "code1")).used_at is None
    mint, _ = minting(access("a1"))
    assert (await store.redeem("code1", "code", NOW, mint)).value == "code1"


async def rotated(store: GrantStorePort) -> None:
    """Refresh token ``r1`` rotated out at ``NOW`` by ``r2``, which is unused."""
    await store.add(grant("r1", "refresh"), NOW - HOUR)
    mint, _ = minting(access("a1"), child("r2", "r1"))
    assert (await store.redeem("r1", "refresh", NOW, mint)).value == "r1"


async def test_a_retry_within_grace_takes_the_place_of_the_unused_successor(
    store: GrantStorePort,
) -> None:
    await rotated(store)
    later = NOW + timedelta(seconds=5)
    mint, seen = minting(access("a2"), child("r3", "r1"))
    retried = await store.redeem("r1", "refresh", later, mint, retry_since=NOW)
    assert retried.value == "r1"
    assert [r.used_at for r in seen] == [NOW]  # the parent, as it was used
    assert retried.superseded is not None
    assert (retried.superseded.digest, retried.superseded.used_at) == ("r2", None)
    assert retried.superseded.data[PARENT] == "r1"
    assert (await stored(store, "r2")).used_at == later
    assert (await stored(store, "r3")).used_at is None

    # The superseded successor is now spent; the retry's own successor is live.
    spent, _ = minting()
    assert (await store.redeem("r2", "refresh", later, spent)).value is None
    next_, _ = minting()
    assert (await store.redeem("r3", "refresh", later, next_)).value == "r3"


async def test_no_retry_once_the_successor_was_used(store: GrantStorePort) -> None:
    await rotated(store)
    used, _ = minting(access("a2"), child("r3", "r2"))
    assert (await store.redeem("r2", "refresh", NOW, used)).value == "r2"
    mint, seen = minting(access("a3"), child("r4", "r1"))
    retried = await store.redeem("r1", "refresh", NOW, mint, retry_since=NOW)
    assert (retried.value, retried.superseded, seen) == (None, None, [])
    assert retried.row is not None
    assert retried.row.digest == "r1"
    assert (await stored(store, "r3")).used_at is None
    assert await store.get("r4") is None


@pytest.mark.parametrize("since", [None, NOW + timedelta(microseconds=1)], ids=["none", "after"])
async def test_no_retry_without_grace_or_after_it(
    store: GrantStorePort, since: datetime | None
) -> None:
    await rotated(store)
    mint, seen = minting(access("a2"), child("r3", "r1"))
    retried = await store.redeem("r1", "refresh", NOW + HOUR / 2, mint, retry_since=since)
    assert (retried.value, retried.superseded, seen) == (None, None, [])
    assert (await stored(store, "r2")).used_at is None


async def test_a_retry_whose_minting_fails_leaves_the_successor_unused(
    store: GrantStorePort,
) -> None:
    await rotated(store)
    with pytest.raises(RuntimeError):
        await store.redeem("r1", "refresh", NOW, refusing, retry_since=NOW)
    assert (await stored(store, "r2")).used_at is None
    mint, _ = minting()
    assert (await store.redeem("r2", "refresh", NOW, mint)).value == "r2"


async def test_a_retry_only_takes_over_its_own_successor(store: GrantStorePort) -> None:
    await rotated(store)
    await store.add(child("other", "someone-else"), NOW)
    await store.add(child("elsewhere", "r1", family="f2"), NOW)
    used, _ = minting()
    assert (await store.redeem("r2", "refresh", NOW, used)).value == "r2"
    mint, seen = minting()
    retried = await store.redeem("r1", "refresh", NOW, mint, retry_since=NOW)
    assert (retried.value, seen) == (None, [])
    assert (await stored(store, "other")).used_at is None
    assert (await stored(store, "elsewhere")).used_at is None


async def test_live_families_by_subject_and_client(store: GrantStorePort) -> None:
    await store.add(grant("c1"), NOW)  # f1: used below, still unexpired
    await store.add(grant("c2", family="f2", client="c2"), NOW)
    await store.add(grant("c3", family="f3", expires=NOW), NOW - HOUR)  # expired
    await store.add(grant("c4", family="f4"), NOW)  # revoked below
    await store.add(grant("c5", family="f5", subject="u2"), NOW)
    await store.add(access("a1", family="f2"), NOW)  # f2 twice: listed once
    mint, _ = minting()
    await store.redeem("c1", "code", NOW, mint)
    await store.revoke_family("f4", NOW)
    assert sorted(await store.live_families("u1", NOW)) == ["f1", "f2"]
    assert await store.live_families("u1", NOW, client_id="c2") == ["f2"]
    assert await store.live_families("u1", NOW, client_id="nobody") == []
    assert await store.live_families("u3", NOW) == []
    # Every user's, for one client (a registered client revoked, decision 049).
    assert sorted(await store.live_families(None, NOW, client_id="c1")) == ["f1", "f2", "f5"]


async def test_revoking_a_family_ends_it_and_returns_its_unexpired_access_tokens(
    store: GrantStorePort,
) -> None:
    await store.add(grant("code1"), NOW - HOUR)
    await store.add(access("a1", expires=NOW + HOUR), NOW - HOUR)
    await store.add(access("gone", expires=NOW), NOW - HOUR)
    await store.add(grant("r1", "refresh"), NOW - HOUR)
    await store.add(grant("other", family="f2"), NOW - HOUR)
    assert await store.revoke_family("f1", NOW) == [("a1", NOW + HOUR)]
    for digest in ("code1", "jti:a1", "jti:gone", "r1"):
        assert (await stored(store, digest)).revoked_at == NOW
    assert (await stored(store, "other")).revoked_at is None

    # Again later: the same live access tokens, the first revocation time kept.
    later = NOW + timedelta(minutes=1)
    assert await store.revoke_family("f1", later) == [("a1", NOW + HOUR)]
    assert (await stored(store, "r1")).revoked_at == NOW
    assert await store.revoke_family("no-such-family", NOW) == []
