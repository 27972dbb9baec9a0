"""The access-token view applies what changed (decision 041), on an in-memory fake of its source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authward.tokens.keys import generate_signing_key
from authward.tokens.token_views import TokenViews

LEEWAY = 30


@dataclass(frozen=True)
class Changes:
    full: bool
    versions: Mapping[str, int]
    keys: Sequence[tuple[str, Mapping[str, Any], float | None]] | None
    signing: None
    machine_users: Mapping[str, str] | None
    clients: frozenset[str] | None
    revoked: Sequence[tuple[str, int]]


@dataclass
class FakeStore:
    """The source port over plain lists, with a counter per table as store/changes.py keeps."""

    keys: list[tuple[str, Mapping[str, Any], float | None]] = field(default_factory=list)
    machine_users: dict[str, str] = field(default_factory=dict)
    #: (jti, expiry, counter it was written at)
    revoked: list[tuple[str, int, int]] = field(default_factory=list)
    versions: dict[str, int] = field(
        default_factory=lambda: {"keys": 0, "machine_users": 0, "clients": 0, "revoked": 0}
    )
    reads: list[Mapping[str, int] | None] = field(default_factory=list)

    def revoke(self, jti: str, expires: int) -> None:
        self.versions["revoked"] += 1
        self.revoked.append((jti, expires, self.versions["revoked"]))

    def add_key(self, kid: str, until: float | None = None) -> None:
        self.versions["keys"] += 1
        self.keys.append((kid, generate_signing_key("EdDSA").public_jwk, until))

    async def token_view_changes(
        self, since: Mapping[str, int] | None, now: datetime, revoked_after: datetime
    ) -> Changes:
        self.reads.append(since)
        seen = since or dict.fromkeys(self.versions, -1)

        def moved(name: str) -> bool:
            return self.versions[name] != seen[name]

        return Changes(
            full=since is None,
            versions=dict(self.versions),
            keys=[k for k in self.keys if k[2] is None or k[2] > now.timestamp()]
            if moved("keys")
            else None,
            signing=None,
            machine_users=dict(self.machine_users) if moved("machine_users") else None,
            clients=frozenset() if moved("clients") else None,
            # Like store/token_view.py: live ones on a full read, every new one after.
            revoked=[
                (jti, exp)
                for jti, exp, version in self.revoked
                if (exp > revoked_after.timestamp() if since is None else version > seen["revoked"])
            ],
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_revocation_stays_until_its_token_is_past_the_leeway_then_leaves() -> None:
    store, clock = FakeStore(), Clock()
    views = TokenViews(store, leeway=LEEWAY, clock=clock)
    store.revoke("old", int(clock.now) + 60)
    assert "old" in (await views.load()).revoked
    store.revoke("new", int(clock.now) + 600)

    # The token expired, but verifies for the leeway: its revocation must still be there.
    clock.now += 60 + LEEWAY - 1
    view = await views.load()
    assert view.revoked == {"old", "new"}
    clock.now += 1
    assert (await views.load()).revoked == {"new"}
    # Read once each: the second and third loads asked only for what came after.
    assert [seen and seen["revoked"] for seen in store.reads] == [None, 1, 2]

    store.revoke("long-expired", int(clock.now) - LEEWAY)
    assert (await views.load()).revoked == {"new"}
    assert views.full_loads == 1


async def test_unchanged_parts_are_reused_and_a_key_is_parsed_once() -> None:
    store, clock = FakeStore(), Clock()
    store.add_key("a")
    store.machine_users["mu"] = "awm_mu"
    views = TokenViews(store, leeway=LEEWAY, clock=clock)
    first = await views.load()
    second = await views.load()
    assert second.machine_users is first.machine_users
    assert second.keys["a"] is first.keys["a"]

    store.add_key("b")
    third = await views.load()
    assert list(third.keys) == ["a", "b"]
    assert third.keys["a"] is first.keys["a"]
    assert third.machine_users is first.machine_users


async def test_a_retired_key_leaves_the_view_when_its_publication_ends() -> None:
    store, clock = FakeStore(), Clock()
    store.add_key("retired", until=clock.now + 10)
    store.add_key("current")
    views = TokenViews(store, leeway=LEEWAY, clock=clock)
    assert set((await views.load()).keys) == {"retired", "current"}
    clock.now += 10
    assert set((await views.load()).keys) == {"current"}
    assert views.full_loads == 1


async def test_a_full_load_replaces_the_revocations_and_leaves_the_old_view_alone() -> None:
    store, clock = FakeStore(), Clock()
    store.revoke("gone", int(clock.now) + 600)
    views = TokenViews(store, leeway=LEEWAY, clock=clock)
    before = await views.load()
    store.revoked.clear()  # what a store restored from an older backup would hold
    store.revoke("kept", int(clock.now) + 600)
    views.reset()
    after = await views.load()
    assert after.revoked == {"kept"}
    assert before.revoked == {"gone"}
    assert views.full_loads == 2
