"""Local users on SQLite and PostgreSQL: create/list/disable/enable/set-password, password sign-in
with one refusal for every failure, throttling per account and per address (held in the database,
so across processes), rehash on sign-in, the profile record and its hooks, claims, and passwords
kept out of logs and audit."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from authward.config import Config
from authward.errors import RecordError, TokenError
from authward.principal import Principal
from authward.runtime import Authward
from authward.store.schema import audit_events, login_throttle
from authward.store.schema import users as users_table
from authward.store.type_records import Records
from authward.store.users import UserStore
from authward.users import (
    InvalidCredentials,
    InvalidPassword,
    LoginThrottled,
    ThrottlePolicy,
    UnknownUser,
    UserClaims,
    UsernameTaken,
    Users,
)
from authward.users.throttle import ACCOUNT_POLICY, IP_POLICY, LoginPolicies
from tests.conftest import SettingsFactory

#: Far cheaper than OWASP's parameters so the suite stays fast; test_owasp_parameters_in_use
#: and the benchmark run the real cost. Never use these outside tests.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery staple"
ORG = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
TEAM = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")
PROFILE = {"organization_id": ORG, "team_id": TEAM}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def users_of(aw: Authward, **kwargs: Any) -> Users:
    """``Users`` on the runtime's store, built as the runtime builds it."""
    kwargs.setdefault("hasher", CHEAP)
    profile = aw.config.auth.user_profile
    assert profile is not None
    return Users(
        UserStore(aw.engine, aw.audit),
        sessions=aw.sessions,
        profile=profile,
        profiles=Records(profile.type, aw.engine),
        **kwargs,
    )


@pytest.fixture
def make_users(runtime: Authward) -> Callable[..., Users]:
    """``Users`` on the test's runtime."""

    def make(**kwargs: Any) -> Users:
        return users_of(runtime, **kwargs)

    return make


@pytest.fixture
def users(make_users: Callable[..., Users]) -> Users:
    return make_users()


async def count(aw: Authward, table: Any, *where: Any) -> int:
    async with aw.engine.connect() as conn:
        query = select(func.count()).select_from(table).where(*where)
        return int((await conn.execute(query)).scalar_one())


async def audit_rows(aw: Authward, kind: str | None = None) -> list[dict[str, Any]]:
    query = select(audit_events).order_by(audit_events.c.id)
    if kind is not None:
        query = query.where(audit_events.c.kind == kind)
    async with aw.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def fail_times(users: Users, username: str, n: int, ip: str | None = None) -> None:
    for _ in range(n):
        with pytest.raises(InvalidCredentials):
            await users.authenticate(username, "wrong password!", ip=ip)


# -- managing ------------------------------------------------------------------------------------


async def test_create_find_get_list(runtime: Authward, users: Users) -> None:
    alice = await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    bob = await users.create("bob@example.com", PASSWORD, profile=PROFILE)
    assert alice.username == "alice@example.com"
    assert not alice.disabled
    assert uuid.UUID(alice.id)
    assert await users.find("alice@example.com") == alice
    assert await users.get(alice.id) == alice
    assert await users.get("not-a-uuid") is None
    assert await users.find("carol@example.com") is None
    assert [u.username for u in await users.list()] == ["alice@example.com", "bob@example.com"]
    # The profile record carries the username in the username_field, and the type's hook ran.
    assert alice.profile_id is not None
    record = await runtime.records(runtime.config.db_types[0]).get(alice.profile_id)
    assert record is not None
    assert record["email"] == "alice@example.com"
    assert record["role"] == "USER"
    assert [e["subject"] for e in await audit_rows(runtime, "user.created")] == [alice.id, bob.id]


async def test_runtime_exposes_users(runtime: Authward) -> None:
    assert isinstance(runtime.users, Users)


async def test_duplicate_username_is_refused_and_writes_nothing(
    runtime: Authward, users: Users
) -> None:
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    with pytest.raises(UsernameTaken, match="already exists"):
        await users.create("alice@example.com", "another password", profile=PROFILE)
    assert await count(runtime, users_table) == 1
    assert await count(runtime, profile_table(runtime)) == 1


async def test_profile_mistakes_name_the_field_and_write_nothing(
    runtime: Authward, users: Users
) -> None:
    with pytest.raises(RecordError, match=r"^User\.organization_id: is required"):
        await users.create("a@example.com", PASSWORD, profile={"team_id": TEAM})
    with pytest.raises(RecordError, match=r"^User\.role: only admins can make admins"):
        await users.create("b@example.com", PASSWORD, profile={**PROFILE, "role": "ADMIN"})
    with pytest.raises(RecordError, match=r"^User\.nickname: User has no such field"):
        await users.create("c@example.com", PASSWORD, profile={**PROFILE, "nickname": "c"})
    with pytest.raises(RecordError, match=r"^User\.email: is the username"):
        await users.create("d@example.com", PASSWORD, profile={**PROFILE, "email": "x@y.z"})
    assert await count(runtime, users_table) == 0
    assert await count(runtime, profile_table(runtime)) == 0
    # The app's hooks and validators see the actor.
    admin = Principal("authward", "machine", "m-1", "m-1", attributes={"role": "ADMIN"})
    made = await users.create(
        "e@example.com", PASSWORD, profile={**PROFILE, "role": "ADMIN"}, actor=admin
    )
    claims = await users.claims(made.id)
    assert claims is not None
    assert claims.attribute_map == {"role": "ADMIN"}


async def test_password_policy(runtime: Authward, users: Users) -> None:
    with pytest.raises(InvalidPassword, match="at least 8 characters"):
        await users.create("a@example.com", "short", profile=PROFILE)
    assert await count(runtime, users_table) == 0
    await users.create("a@example.com", PASSWORD, profile=PROFILE)
    with pytest.raises(InvalidPassword, match="at least 8 characters"):
        await users.set_password("a@example.com", "1234567")
    with pytest.raises(InvalidPassword, match="at most 1024"):
        await users.set_password("a@example.com", "x" * 1025)
    assert await users.authenticate("a@example.com", PASSWORD, ip=None)


async def test_set_password(runtime: Authward, users: Users) -> None:
    alice = await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    await users.set_password("alice@example.com", "a brand new password", actor="cli")
    with pytest.raises(InvalidCredentials):
        await users.authenticate("alice@example.com", PASSWORD, ip=None)
    assert (await users.authenticate("alice@example.com", "a brand new password", ip=None)) == alice
    [event] = await audit_rows(runtime, "user.password_set")
    assert (event["actor"], event["subject"]) == ("cli", alice.id)
    with pytest.raises(UnknownUser):
        await users.set_password("nobody@example.com", "a brand new password")


async def test_disable_signs_out_at_once_and_enable(runtime: Authward, users: Users) -> None:
    alice = await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    secret, _ = await runtime.sessions.create(alice.id)
    token = await runtime.sessions.mint_token(secret)
    assert (await runtime.sessions.verify_token(token)).user_id == alice.id

    disabled = await users.disable("alice@example.com", actor="cli")
    assert disabled.disabled
    with pytest.raises(TokenError) as refused:
        await runtime.sessions.verify_token(token)
    assert refused.value.reason == "session-revoked"
    with pytest.raises(InvalidCredentials):
        await users.authenticate("alice@example.com", PASSWORD, ip=None)
    assert [u.disabled for u in await users.list()] == [True]

    assert not (await users.enable("alice@example.com", actor="cli")).disabled
    assert (await users.authenticate("alice@example.com", PASSWORD, ip=None)).id == alice.id
    kinds = [e["kind"] for e in await audit_rows(runtime) if e["subject"] == alice.id]
    assert "user.disabled" in kinds
    assert "user.enabled" in kinds
    with pytest.raises(UnknownUser, match=r"nobody@example\.com"):
        await users.disable("nobody@example.com")


# -- signing in ----------------------------------------------------------------------------------


async def test_sign_in_and_one_refusal_for_every_failure(runtime: Authward, users: Users) -> None:
    alice = await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    await users.create("bob@example.com", PASSWORD, profile=PROFILE)
    await users.disable("bob@example.com")
    external = await users.create("carol@example.com", None, profile=PROFILE)

    assert await users.authenticate("alice@example.com", PASSWORD, ip="203.0.113.9") == alice
    [login] = await audit_rows(runtime, "user.login")
    assert (login["subject"], login["ip"]) == (alice.id, "203.0.113.9")

    messages = set()
    for username, password in [
        ("alice@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("bob@example.com", PASSWORD),  # right password, but disabled
        ("carol@example.com", PASSWORD),  # no local password
        ("alice@example.com", PASSWORD + "x" * 2000),
    ]:
        with pytest.raises(InvalidCredentials) as refused:
            await users.authenticate(username, password, ip="203.0.113.9")
        messages.add(str(refused.value))
        assert refused.value.code == "login_failed"
    assert messages == {"invalid username or password"}
    failed = await audit_rows(runtime, "user.login_failed")
    assert [e["detail"]["reason"] for e in failed] == [
        "wrong_password",
        "unknown_user",
        "disabled",
        "no_password",
        "wrong_password",
    ]
    assert failed[1]["subject"] is None
    assert failed[3]["subject"] == external.id


async def test_account_throttle_holds_across_runtimes(
    runtime: Authward,
    database_url: str,
    settings_for: SettingsFactory,
    example_config: Config,
    make_users: Callable[..., Users],
) -> None:
    users = make_users()
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    await fail_times(users, "alice@example.com", ACCOUNT_POLICY.threshold, ip="198.51.100.1")

    other = await Authward.open(example_config, settings_for(database_url))
    try:
        with pytest.raises(LoginThrottled) as refused:
            # The right password, from another address, at another server process.
            await users_of(other).authenticate("alice@example.com", PASSWORD, ip="192.0.2.7")
    finally:
        await other.close()
    assert 0 < refused.value.retry_after_seconds <= 60
    assert refused.value.code == "login_failed"
    [event] = await audit_rows(runtime, "user.login_throttled")
    assert event["ip"] == "192.0.2.7"
    assert event["detail"] == {"retry_after_seconds": refused.value.retry_after_seconds}
    # An unknown username is throttled the same way: throttling does not reveal who exists.
    await fail_times(users, "nobody@example.com", ACCOUNT_POLICY.threshold)
    with pytest.raises(LoginThrottled):
        await users.authenticate("nobody@example.com", PASSWORD, ip=None)


async def test_delay_grows_and_a_success_resets_the_account(
    runtime: Authward, make_users: Callable[..., Users]
) -> None:
    clock = Clock()
    users = make_users(clock=clock)
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    await fail_times(users, "alice@example.com", 5)
    with pytest.raises(LoginThrottled) as first:
        await users.authenticate("alice@example.com", PASSWORD, ip=None)
    assert first.value.retry_after_seconds == 60
    clock.advance(61)
    await fail_times(users, "alice@example.com", 1)
    with pytest.raises(LoginThrottled) as second:
        await users.authenticate("alice@example.com", PASSWORD, ip=None)
    assert second.value.retry_after_seconds == 120
    clock.advance(121)
    assert await users.authenticate("alice@example.com", PASSWORD, ip=None)
    # The success forgot the failures: four more are allowed, the fifth locks again.
    await fail_times(users, "alice@example.com", 4)
    assert await users.authenticate("alice@example.com", PASSWORD, ip=None)
    await fail_times(users, "alice@example.com", 5)
    with pytest.raises(LoginThrottled):
        await users.authenticate("alice@example.com", PASSWORD, ip=None)
    # Failures are forgotten after the window, without a success.
    clock.advance(60 + ACCOUNT_POLICY.window.total_seconds() + 1)
    await fail_times(users, "alice@example.com", 4)
    assert await users.authenticate("alice@example.com", PASSWORD, ip=None)


async def test_delay_is_capped() -> None:
    policy = ACCOUNT_POLICY
    delays = [policy.delay(n) for n in range(1, 40)]
    assert delays[:4] == [timedelta(0)] * 4
    assert delays[4:8] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert set(delays[8:]) == {policy.max_delay}


async def test_address_throttle(runtime: Authward, make_users: Callable[..., Users]) -> None:
    policy = ThrottlePolicy(3, timedelta(minutes=15), timedelta(minutes=1), timedelta(minutes=15))
    users = make_users(login=LoginPolicies(address=policy))
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    # Spraying across accounts from one address: each account fails once, the address thrice.
    for n in range(3):
        with pytest.raises(InvalidCredentials):
            await users.authenticate(f"user{n}@example.com", PASSWORD, ip="203.0.113.50")
    with pytest.raises(LoginThrottled):
        await users.authenticate("alice@example.com", PASSWORD, ip="203.0.113.50")
    assert await users.authenticate("alice@example.com", PASSWORD, ip="203.0.113.51")
    # An IPv6 client is one /64, however many addresses it uses.
    for n in range(3):
        with pytest.raises(InvalidCredentials):
            await users.authenticate(f"v6-{n}@example.com", PASSWORD, ip=f"2001:db8:1:2::{n + 1}")
    with pytest.raises(LoginThrottled):
        await users.authenticate("alice@example.com", PASSWORD, ip="2001:db8:1:2:ffff::1")
    assert await users.authenticate("alice@example.com", PASSWORD, ip="2001:db8:1:3::1")


async def test_default_address_threshold_is_higher_than_the_account_one() -> None:
    assert IP_POLICY.threshold > ACCOUNT_POLICY.threshold


async def test_rehash_when_parameters_change(
    runtime: Authward, make_users: Callable[..., Users]
) -> None:
    await make_users().create("alice@example.com", PASSWORD, profile=PROFILE)
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    before = await stored_hash(runtime, "alice@example.com")
    assert "$m=8,t=1,p=1$" in before
    assert await make_users(hasher=stronger).authenticate("alice@example.com", PASSWORD, ip=None)
    after = await stored_hash(runtime, "alice@example.com")
    assert "$m=16,t=2,p=1$" in after
    assert [e["detail"] for e in await audit_rows(runtime, "user.login")] == [{"rehashed": True}]
    # The new hash works, and is not rehashed again.
    assert await make_users(hasher=stronger).authenticate("alice@example.com", PASSWORD, ip=None)
    assert await stored_hash(runtime, "alice@example.com") == after


async def test_sign_in_writes_its_session_and_audit_before_it_returns(
    runtime: Authward, make_users: Callable[..., Users]
) -> None:
    await make_users().create("alice@example.com", PASSWORD, profile=PROFILE)
    await fail_times(make_users(), "alice@example.com", 2)
    stronger = make_users(hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    signed_in = await stronger.sign_in(
        "alice@example.com",
        PASSWORD,
        ip="203.0.113.9",
        user_agent="Firefox",
        client_id="my-oauth2-client",
    )
    # No flush: everything the sign-in writes is committed by the time it returns.
    session = await runtime.sessions.session_of(signed_in.secret)
    assert session == signed_in.session
    assert session.status() == "active"
    assert (session.user_id, session.ip, session.user_agent) == (
        signed_in.account.id,
        "203.0.113.9",
        "Firefox",
    )
    assert session.claims["amr"] == ["pwd"]
    [login] = await audit_rows(runtime, "user.login")
    assert (login["subject"], login["client_id"], login["ip"]) == (
        signed_in.account.id,
        "my-oauth2-client",
        "203.0.113.9",
    )
    assert login["detail"] == {"session_id": session.id, "method": "pwd", "rehashed": True}
    [created] = await audit_rows(runtime, "session.created")
    assert created["detail"]["session_id"] == session.id
    assert "$m=16,t=2,p=1$" in await stored_hash(runtime, "alice@example.com")
    # The success cleared the account's failures: five more before a lock, as after any success.
    await fail_times(stronger, "alice@example.com", 4)
    assert await stronger.sign_in("alice@example.com", PASSWORD, ip=None)


async def test_a_refused_sign_in_starts_no_session(runtime: Authward, users: Users) -> None:
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    with pytest.raises(InvalidCredentials):
        await users.sign_in("alice@example.com", "wrong password", ip="203.0.113.9")
    await fail_times(users, "alice@example.com", ACCOUNT_POLICY.threshold - 1)
    with pytest.raises(LoginThrottled):
        await users.sign_in("alice@example.com", PASSWORD, ip="203.0.113.9")
    account = await users.find("alice@example.com")
    assert account is not None
    assert await runtime.sessions.list(account.id, include_inactive=True) == []
    assert await audit_rows(runtime, "user.login") == []


async def test_owasp_parameters_in_use(runtime: Authward) -> None:
    account = await runtime.users.create("alice@example.com", PASSWORD, profile=PROFILE)
    assert (await stored_hash(runtime, "alice@example.com")).startswith(
        "$argon2id$v=19$m=19456,t=2,p=1$"
    )
    assert await runtime.users.authenticate("alice@example.com", PASSWORD, ip=None) == account


# -- claims --------------------------------------------------------------------------------------


async def test_claims(runtime: Authward, users: Users) -> None:
    alice = await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    claims = await users.claims(alice.id)
    assert isinstance(claims, UserClaims)
    assert claims.user_id == alice.id
    assert claims.username == "alice@example.com"
    assert claims.attribute_map == {"role": "USER"}
    assert claims.attribute_list == [str(ORG), str(TEAM)]
    assert claims.email == "alice@example.com"
    assert claims.email_verified is False
    assert claims.profile["id"] == alice.profile_id
    assert claims.profile["organization_id"] == str(ORG)
    assert datetime.fromisoformat(claims.profile["created_at"]).tzinfo is not None
    assert json.loads(json.dumps(claims.profile)) == claims.profile  # JSON-safe

    verified = await users.create("bob@example.com", None, profile=PROFILE, email_verified=True)
    bob = await users.claims(verified.id)
    assert bob is not None
    assert bob.email_verified is True
    assert await users.claims(str(uuid.uuid4())) is None
    assert await users.claims("nope") is None


async def test_cached_claims_see_a_local_disable_at_once(runtime: Authward, users: Users) -> None:
    alice = await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    # Many readers at once (one load serves them), with a disable racing them.
    readers = [asyncio.ensure_future(users.claims(alice.id)) for _ in range(50)]
    await users.disable("alice@example.com")
    seen = await asyncio.gather(*readers)
    assert all(c is not None and c.user_id == alice.id for c in seen)
    after = await users.claims(alice.id)
    assert after is not None
    assert after.disabled is True
    await users.enable("alice@example.com")
    again = await users.claims(alice.id)
    assert again is not None
    assert again.disabled is False


# -- secrets -------------------------------------------------------------------------------------


async def test_passwords_never_reach_logs_audit_or_throttle(
    runtime: Authward, users: Users, caplog: pytest.LogCaptureFixture
) -> None:
    # authward's own debug logs and everyone's info: drivers log SQL parameters (a username that
    # is a mistyped password is one) only at debug, which production does not run at.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="authward")
    secret_1, secret_2, typo = "s3cret-one-9f2c", "s3cret-two-71ab", "s3cret-typo-55de"
    await users.create("alice@example.com", secret_1, profile=PROFILE)
    await users.authenticate("alice@example.com", secret_1, ip="203.0.113.9")
    await users.set_password("alice@example.com", secret_2)
    await fail_times(users, "alice@example.com", 1)
    with pytest.raises(InvalidCredentials):
        await users.authenticate("alice@example.com", secret_1, ip="203.0.113.9")
    # A password typed into the username field is not kept either.
    with pytest.raises(InvalidCredentials):
        await users.authenticate(typo, secret_2, ip="203.0.113.9")
    with pytest.raises(InvalidPassword) as refused:
        await users.set_password("alice@example.com", "short")
    assert "short" not in str(refused.value)

    async with runtime.engine.connect() as conn:
        throttled = [dict(r) for r in (await conn.execute(select(login_throttle))).mappings()]
    stored = json.dumps({"audit": await audit_rows(runtime), "throttle": throttled}, default=str)
    for secret in (secret_1, secret_2, typo):
        assert secret not in caplog.text
        assert secret not in stored
    assert secret_2 not in await stored_hash(runtime, "alice@example.com")


# -- helpers -------------------------------------------------------------------------------------


def profile_table(aw: Authward) -> Any:
    return aw.records(aw.config.db_types[0]).table


async def stored_hash(aw: Authward, username: str) -> str:
    async with aw.engine.connect() as conn:
        t = users_table
        query = select(t.c.password_hash).where(t.c.username == username)
        value = (await conn.execute(query)).scalar_one()
    assert isinstance(value, str)
    return value


async def test_closing_the_runtime_writes_the_sign_in_audit_row(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    aw = await Authward.open(example_config, settings_for(database_url), migrate=True)
    try:
        account = await users_of(aw).create("alice@example.com", PASSWORD, profile=PROFILE)
        aw.users = users_of(aw)
        await aw.users.authenticate("alice@example.com", PASSWORD, ip=None)
    finally:
        await aw.close()
    again = await Authward.open(example_config, settings_for(database_url))
    try:
        assert [e["subject"] for e in await audit_rows(again, "user.login")] == [account.id]
    finally:
        await again.close()


async def test_concurrent_failures_all_count(
    runtime: Authward, make_users: Callable[..., Users]
) -> None:
    policy = ThrottlePolicy(100, timedelta(minutes=15), timedelta(minutes=1), timedelta(minutes=15))
    users = make_users(login=LoginPolicies(account=policy))
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    outcomes = await asyncio.gather(
        *(users.authenticate("alice@example.com", f"wrong {n}", ip=None) for n in range(12)),
        return_exceptions=True,
    )
    assert all(isinstance(o, InvalidCredentials) for o in outcomes)
    async with runtime.engine.connect() as conn:
        failures = (await conn.execute(select(login_throttle.c.failures))).scalars().all()
    assert failures == [12]


async def test_concurrent_sign_ins_keep_every_audit_row(
    runtime: Authward, make_users: Callable[..., Users]
) -> None:
    # 16 attempts in flight at once on one account: more than the default limit lets through.
    policy = ThrottlePolicy(100, timedelta(minutes=15), timedelta(minutes=1), timedelta(minutes=15))
    users = make_users(login=LoginPolicies(account=policy))
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    attempts = [PASSWORD if n % 4 else "wrong password" for n in range(16)]
    outcomes = await asyncio.gather(
        *(
            users.authenticate("alice@example.com", p, ip=f"10.0.0.{n}")
            for n, p in enumerate(attempts)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(o, InvalidCredentials) for o in outcomes) == 4
    assert not [
        o for o in outcomes if isinstance(o, Exception) and not isinstance(o, InvalidCredentials)
    ]
    assert len(await audit_rows(runtime, "user.login")) == 12
    assert len(await audit_rows(runtime, "user.login_failed")) == 4


async def test_concurrent_wrong_passwords_reach_the_hash_at_most_limit_times(
    runtime: Authward, make_users: Callable[..., Users]
) -> None:
    """Issue 13, item 8: the attempt is counted before the hash, so a burst of guesses at one
    account gets ``threshold`` answers "wrong password" and every other one is refused unchecked,
    and the right password right after the burst is refused too."""
    users = make_users()
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    outcomes = await asyncio.gather(
        *(users.authenticate("alice@example.com", f"wrong {n}", ip=None) for n in range(30)),
        return_exceptions=True,
    )
    checked = [o for o in outcomes if isinstance(o, InvalidCredentials)]
    refused = [o for o in outcomes if isinstance(o, LoginThrottled)]
    assert (len(checked), len(refused)) == (ACCOUNT_POLICY.threshold, 30 - ACCOUNT_POLICY.threshold)
    with pytest.raises(LoginThrottled):
        await users.authenticate("alice@example.com", PASSWORD, ip=None)
    assert len(await audit_rows(runtime, "user.login_failed")) == ACCOUNT_POLICY.threshold


async def test_concurrent_guesses_from_one_address_reach_the_hash_at_most_limit_times(
    runtime: Authward, make_users: Callable[..., Users]
) -> None:
    policy = ThrottlePolicy(4, timedelta(minutes=15), timedelta(minutes=1), timedelta(minutes=15))
    users = make_users(login=LoginPolicies(address=policy))
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    outcomes = await asyncio.gather(
        *(
            users.authenticate(f"user{n}@example.com", PASSWORD, ip="203.0.113.7")
            for n in range(20)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(o, InvalidCredentials) for o in outcomes) == 4
    assert sum(isinstance(o, LoginThrottled) for o in outcomes) == 16
    with pytest.raises(LoginThrottled):
        await users.authenticate("alice@example.com", PASSWORD, ip="203.0.113.7")
    # Another address is not held back.
    assert await users.authenticate("alice@example.com", PASSWORD, ip="203.0.113.8")


async def test_successes_give_the_address_its_attempts_back(
    runtime: Authward, make_users: Callable[..., Users]
) -> None:
    """Counted before the hash, a success must not use up the address's limit: an office behind
    one address signs in all day."""
    policy = ThrottlePolicy(3, timedelta(minutes=15), timedelta(minutes=1), timedelta(minutes=15))
    users = make_users(login=LoginPolicies(address=policy))
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    await fail_times(users, "bob@example.com", 2, ip="203.0.113.9")
    for _ in range(5):
        assert await users.authenticate("alice@example.com", PASSWORD, ip="203.0.113.9")
        await users.sign_in("alice@example.com", PASSWORD, ip="203.0.113.9")
    # The third failure locks the address: the two before it were not forgotten.
    await fail_times(users, "carol@example.com", 1, ip="203.0.113.9")
    with pytest.raises(LoginThrottled):
        await users.authenticate("alice@example.com", PASSWORD, ip="203.0.113.9")


async def test_concurrent_sign_ins_and_failures_from_one_address_all_finish(
    runtime: Authward, make_users: Callable[..., Users]
) -> None:
    """Takes, releases and prunes of the same account and address in flight at once: every
    attempt ends as a session or a refusal, none in a database error (a deadlock on
    PostgreSQL if they locked the two rows in different orders)."""
    policy = ThrottlePolicy(100, timedelta(minutes=15), timedelta(minutes=1), timedelta(minutes=15))
    users = make_users(login=LoginPolicies(policy, policy))
    await users.create("alice@example.com", PASSWORD, profile=PROFILE)
    attempts = [PASSWORD if n % 3 else "wrong password" for n in range(24)]
    outcomes = await asyncio.gather(
        *(users.sign_in("alice@example.com", p, ip="203.0.113.60") for p in attempts),
        return_exceptions=True,
    )
    assert sum(isinstance(o, InvalidCredentials) for o in outcomes) == 8
    assert not [
        o
        for o in outcomes
        if isinstance(o, BaseException) and not isinstance(o, InvalidCredentials)
    ]
    # Every success gave its attempt back: only the 8 failures remain counted.
    async with runtime.engine.connect() as conn:
        counts = sorted((await conn.execute(select(login_throttle.c.failures))).scalars().all())
    assert counts == [0, 8]
