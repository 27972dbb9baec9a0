"""Browser sessions on SQLite and PostgreSQL: create, list, revoke, sign out everywhere; session
tokens minted from a session and accepted through AuthMiddleware; refusals after sign-out (in this
process at once, in another after invalidate() or the refresh interval), on expiry, for unknown
sessions; the active organization; the mint endpoint."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward.channel import AuthMiddleware, authenticate_request, authward_tokens
from authward.errors import ConfigError, TokenError
from authward.identity.orgs import OrganizationError
from authward.identity.sessions import SessionAuth
from authward.principal import Principal
from authward.runtime import Authward
from authward.server.session_routes import session_routes
from authward.store.schema import sessions
from authward.tokens.session_token import sign_session_token
from tests.conftest import SettingsFactory
from tests.integration.test_orgs import ROLES_T, org_config
from tests.integration.test_tokens import StepClock, parts


@pytest.fixture
async def aw(database_url: str, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    runtime = await Authward.open(org_config(), settings_for(database_url), migrate=True)
    yield runtime
    await runtime.close()


async def whoami(request: Request) -> JSONResponse:
    p: Principal = request.state.auth
    return JSONResponse(
        {
            "principal_type": p.principal_type,
            "principal_id": p.principal_id,
            "subject": p.subject,
            "attributes": {
                k: list(v) if isinstance(v, tuple) else v for k, v in p.attributes.items()
            },
        }
    )


def client_for(aw: Authward, **entry: Any) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/whoami", whoami)])
    chain = [
        authward_tokens(
            tokens=aw.verifier,
            sessions=aw.sessions,
            accepts_token=["session_token", "oauth_token"],
            **entry,
        )
    ]
    transport = httpx.ASGITransport(app=AuthMiddleware(app, auth=chain))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def reason_of(aw: Authward, token: str) -> str:
    with pytest.raises(TokenError) as err:
        await aw.sessions.verify_token(token)
    return err.value.reason


async def signed_in(aw: Authward, user: str = "user-1", **kwargs: Any) -> tuple[str, str]:
    """A session and its first token: ``(secret, token)``."""
    secret, _ = await aw.sessions.create(user, **kwargs)
    return secret, await aw.sessions.mint_token(secret)


# -- management -----------------------------------------------------------------------------------


async def test_create_list_revoke_and_revoke_all(aw: Authward) -> None:
    secret, first = await aw.sessions.create(
        "user-1", ip="203.0.113.7", user_agent="Firefox", claims={"name": "Ada"}
    )
    assert secret.startswith("sess_")
    assert len(secret) == len("sess_") + 43
    assert first.id.startswith("sid_")
    assert first.status() == "active"
    assert (first.ip, first.user_agent, dict(first.claims)) == (
        "203.0.113.7",
        "Firefox",
        {"name": "Ada"},
    )
    assert (first.expires_at - first.created_at).days == 7
    _, second = await aw.sessions.create("user-1", lifetime=3600)
    _, third = await aw.sessions.create("user-1")
    _, others = await aw.sessions.create("user-2")

    # Only the digest is stored.
    async with aw.engine.connect() as conn:
        row = (await conn.execute(select(sessions).where(sessions.c.id == first.id))).one()
    assert row.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(tuple(row))

    listed = await aw.sessions.list("user-1")
    assert {s.id for s in listed} == {first.id, second.id, third.id}
    assert await aw.sessions.get(first.id) == first

    assert await aw.sessions.revoke(second.id, actor="user-1") is True
    assert await aw.sessions.revoke(second.id) is False
    assert await aw.sessions.revoke("sid_unknown") is False
    assert {s.id for s in await aw.sessions.list("user-1")} == {first.id, third.id}
    ended = await aw.sessions.get(second.id)
    assert ended is not None
    assert ended.status() == "revoked"
    assert {s.id for s in await aw.sessions.list("user-1", include_inactive=True)} == {
        first.id,
        second.id,
        third.id,
    }

    # Sign out everywhere but here.
    assert await aw.sessions.revoke_all("user-1", except_session=first.id) == 1
    assert [s.id for s in await aw.sessions.list("user-1")] == [first.id]
    assert await aw.sessions.revoke_all("user-1") == 1
    assert await aw.sessions.list("user-1") == []
    assert await aw.sessions.revoke_all("user-1") == 0
    assert [s.id for s in await aw.sessions.list("user-2")] == [others.id]

    kinds = [e.kind for e in reversed(await aw.audit.recent()) if e.kind.startswith("session.")]
    assert kinds == ["session.created"] * 4 + ["session.revoked"] * 3
    for event in await aw.audit.recent():
        assert secret not in str(event.detail)


async def test_bad_session_input_is_refused(aw: Authward) -> None:
    for claims, fragment in [
        ({"role": "ADMIN"}, "reserved"),
        ({"permissions": ["x"]}, "reserved"),
        ({"org_id": "x"}, "reserved"),
        ({"exp": "x"}, "reserved"),
        ({"tokenType": "x"}, "reserved"),
        ({"age": 3}, "must be a string, a boolean"),
        ({"mixed": ["a", True]}, "must be a string, a boolean"),
        ({"nested": {"a": "b"}}, "must be a string, a boolean"),
        ({"bad name": "x"}, "claim names"),
        ({"big": "x" * 2000}, "at most 1024 bytes"),
    ]:
        with pytest.raises(ConfigError, match=fragment):
            await aw.sessions.create("user-1", claims=claims)
    with pytest.raises(ConfigError, match="lifetime"):
        await aw.sessions.create("user-1", lifetime=0)
    with pytest.raises(ConfigError, match="user_id"):
        await aw.sessions.create("")
    with pytest.raises(OrganizationError, match="no organization"):
        await aw.sessions.create("user-1", active_org_id="nope")
    await aw.organizations.create("acme", "Acme")
    with pytest.raises(OrganizationError, match="'user-1' is not a member of 'acme'"):
        await aw.sessions.create("user-1", active_org_id="acme")
    assert await aw.sessions.list("user-1") == []


# -- tokens -------------------------------------------------------------------------------------


async def test_a_minted_token_carries_the_session_and_the_active_org(aw: Authward) -> None:
    acme = await aw.organizations.create("acme", "Acme")
    await aw.organizations.add_member("acme", "user-1", "member")
    secret, info = await aw.sessions.create(
        "user-1", active_org_id="acme", claims={"name": "Ada", "beta": True, "teams": ["a", "b"]}
    )
    assert info.active_org_id == acme.id
    before = int(time.time())
    token = await aw.sessions.mint_token(secret)
    header, claims = parts(token)
    assert header["typ"] == "JWT"
    assert header["kid"] in {k["kid"] for k in (await aw.jwks())["keys"]}
    assert claims["exp"] - claims["iat"] == 60
    assert claims["iat"] >= before
    assert {k: v for k, v in claims.items() if k not in ("iat", "exp")} == {
        "iss": aw.issuer,
        "aud": aw.audience,
        "sub": "user-1",
        "sid": info.id,
        "org_id": acme.id,
        "org_role": "member",
        "org_permissions": ["org:reports:read"],
        "name": "Ada",
        "beta": True,
        "teams": ["a", "b"],
    }
    auth = await aw.sessions.verify_token(token)
    assert auth == SessionAuth(
        user_id="user-1",
        session_id=info.id,
        org_id=acme.id,
        org_role="member",
        org_permissions=("org:reports:read",),
        session_claims={"name": "Ada", "beta": True, "teams": ("a", "b")},
    )
    stored = await aw.sessions.get(info.id)
    assert stored is not None
    assert stored.last_active_at >= info.last_active_at


async def test_the_token_is_accepted_through_the_middleware(aw: Authward) -> None:
    await aw.organizations.create("acme", "Acme")
    await aw.organizations.add_member("acme", "user-1", "admin")
    secret, info = await aw.sessions.create("user-1", claims={"name": "Ada Lovelace"})
    await aw.sessions.set_active_org(info.id, "acme")
    token = await aw.sessions.mint_token(secret)
    acme = await aw.organizations.get("acme")
    assert acme is not None
    expected = {
        "principal_type": "user",
        "principal_id": "user-1",
        "subject": "user-1",
        "attributes": {
            "tokenType": "session_token",
            "sessionId": info.id,
            "orgId": acme.id,
            "role": "admin",
            "permissions": list(ROLES_T["admin"]),
            "name": "Ada Lovelace",
        },
    }
    async with client_for(aw) as c:
        by_bearer = await c.get("/whoami", headers=bearer(token))
        by_cookie = await c.get("/whoami", headers={"Cookie": f"__session={token}"})
    assert by_bearer.status_code == 200, by_bearer.text
    assert by_bearer.json() == expected
    assert by_cookie.status_code == 200, by_cookie.text
    assert by_cookie.json() == expected


async def test_without_an_active_org_there_are_no_org_attributes(aw: Authward) -> None:
    _, token = await signed_in(aw)
    auth = await aw.sessions.verify_token(token)
    assert (auth.org_id, auth.org_role, auth.org_permissions) == (None, None, ())
    assert dict(auth.to_principal().attributes) == {
        "tokenType": "session_token",
        "sessionId": auth.session_id,
        "permissions": (),
    }


async def test_a_session_token_after_sign_out_is_refused_at_once_here(aw: Authward) -> None:
    secret, token = await signed_in(aw)
    other_secret, other_token = await signed_in(aw, "user-2")
    async with client_for(aw) as c:
        assert (await c.get("/whoami", headers=bearer(token))).status_code == 200  # now cached
        session_id = (await aw.sessions.verify_token(token)).session_id
        assert await aw.sessions.revoke(session_id) is True
        refused = await c.get("/whoami", headers=bearer(token))
        assert (await c.get("/whoami", headers=bearer(other_token))).status_code == 200
    assert refused.status_code == 401
    assert refused.json() == {
        "error": "invalid_token",
        "message": "session has ended (signed out or revoked)",
    }
    assert await reason_of(aw, token) == "session-revoked"
    with pytest.raises(TokenError) as err:
        await aw.sessions.mint_token(secret)
    assert err.value.reason == "session-revoked"
    assert await aw.sessions.mint_token(other_secret)


async def test_sign_out_everywhere_reaches_another_process(
    aw: Authward, database_url: str, settings_for: SettingsFactory
) -> None:
    _, token = await signed_in(aw)
    _, token_2 = await signed_in(aw)
    other = await Authward.open(
        org_config(), settings_for(database_url, cache_refresh_seconds=0.3), migrate=False
    )
    try:
        await other.sessions.verify_token(token)  # the other process caches the session
        await other.sessions.verify_token(token_2)
        assert await aw.sessions.revoke_all("user-1") == 2
        assert await reason_of(aw, token) == "session-revoked"
        # At once after invalidate() ...
        other.sessions.invalidate()
        assert await reason_of(other, token) == "session-revoked"
    finally:
        await other.close()

    # ... and by itself within the refresh interval.
    _, token_3 = await signed_in(aw, "user-3")
    third = await Authward.open(
        org_config(), settings_for(database_url, cache_refresh_seconds=0.3), migrate=False
    )
    try:
        await third.sessions.verify_token(token_3)
        await aw.sessions.revoke_all("user-3")
        await asyncio.sleep(0.4)
        assert await reason_of(third, token_3) == "session-revoked"
    finally:
        await third.close()


async def test_a_sign_out_elsewhere_is_read_in_the_background_ahead_of_the_interval(
    aw: Authward, database_url: str, settings_for: SettingsFactory
) -> None:
    _, token = await signed_in(aw)
    refresh = aw.settings.cache_refresh_seconds
    view = aw.sessions.token_verifier
    clock = StepClock()
    view.monotonic = clock
    other = await Authward.open(org_config(), settings_for(database_url), migrate=False)
    try:
        async with client_for(aw) as c:
            aw.sessions.invalidate()
            assert (await c.get("/whoami", headers=bearer(token))).status_code == 200
            loaded, loads = clock.now, view.loads
            assert await other.sessions.revoke_all("user-1") == 1

            # Three quarters into the interval: answered from the view it has, reload started.
            clock.now = loaded + refresh * 0.8
            assert (await c.get("/whoami", headers=bearer(token))).status_code == 200
            reload = view.reloading
            assert reload is not None
            assert view.loads == loads
            await reload
            assert view.loads == loads + 1

            refused = await c.get("/whoami", headers=bearer(token))
            assert refused.status_code == 401
            assert refused.json()["message"] == "session has ended (signed out or revoked)"
            assert view.loads == loads + 1

            # Past the full interval a request waits for the reload: never an older view.
            _, token_2 = await signed_in(aw, "user-2")
            assert (await c.get("/whoami", headers=bearer(token_2))).status_code == 200
            assert await other.sessions.revoke_all("user-2") == 1
            clock.now += refresh
            assert await reason_of(aw, token_2) == "session-revoked"
            assert view.loads == loads + 2
            assert view.reloading is None
    finally:
        await other.close()


async def test_expired_tokens_and_sessions_are_refused(aw: Authward) -> None:
    secret, token = await signed_in(aw)
    _, claims = parts(token)
    key = await aw.signing_keys.signer()
    stale = sign_session_token(
        key, {**claims, "iat": claims["iat"] - 300, "exp": claims["exp"] - 300}
    )
    assert await reason_of(aw, stale) == "token-expired"
    async with client_for(aw) as c:
        response = await c.get("/whoami", headers=bearer(stale))
    assert response.status_code == 401
    assert response.json()["message"] == "token has expired"

    # The session itself ends: its tokens and its secret stop working.
    async with aw.engine.begin() as conn:
        await conn.execute(
            update(sessions)
            .where(sessions.c.id == claims["sid"])
            .values(expires_at=sessions.c.created_at)
        )
    aw.sessions.invalidate()
    assert await reason_of(aw, token) == "session-expired"
    with pytest.raises(TokenError) as err:
        await aw.sessions.mint_token(secret)
    assert err.value.reason == "session-expired"


async def test_tokens_of_unknown_sessions_and_forgeries_are_refused(aw: Authward) -> None:
    _, token = await signed_in(aw)
    _, claims = parts(token)
    key = await aw.signing_keys.signer()
    unknown = sign_session_token(key, {**claims, "sid": "sid_doesnotexist"})
    assert await reason_of(aw, unknown) == "token-invalid"
    someone_else = sign_session_token(key, {**claims, "sub": "user-2"})
    assert await reason_of(aw, someone_else) == "token-invalid"
    assert await reason_of(aw, sign_session_token(key, {**claims, "aud": "https://x"})) == (
        "token-invalid-audience"
    )
    missing_sid = {k: v for k, v in claims.items() if k != "sid"}
    assert await reason_of(aw, sign_session_token(key, missing_sid)) == "token-invalid"
    head, payload, _ = token.split(".")
    assert await reason_of(aw, f"{head}.{payload}.AAAA") == "token-invalid-signature"
    with pytest.raises(TokenError) as err:
        await aw.sessions.mint_token("sess_" + "A" * 43)
    assert err.value.reason == "session-invalid"
    with pytest.raises(TokenError) as err:
        await aw.sessions.mint_token("not-a-secret")
    assert err.value.reason == "session-invalid"

    async with client_for(aw) as c:
        response = await c.get("/whoami", headers=bearer(unknown))
    assert response.status_code == 401
    assert response.json()["message"] == "token's session does not exist"


async def test_a_session_s_tokens_share_their_answer_only_when_their_claims_are_equal(
    aw: Authward,
) -> None:
    secret, token = await signed_in(aw, claims={"staff": True, "teams": ["a", "b"]})
    _, claims = parts(token)
    key = await aw.signing_keys.signer()
    first = await aw.sessions.verify_token(token)
    # The next minute's token of the same session: the same answer, not rebuilt.
    remint = sign_session_token(key, {**claims, "iat": claims["iat"] - 1})
    assert await aw.sessions.verify_token(remint) is first

    # Claims that compare equal in Python but are not the same JSON are checked on their own.
    for changed in ({"staff": 1}, {"teams": ["a", 1]}, {"staff": 1.0}):
        forged = sign_session_token(key, {**claims, **changed, "iat": claims["iat"] - 2})
        assert await reason_of(aw, forged) == "token-invalid"
    as_text = sign_session_token(key, {**claims, "staff": "True", "iat": claims["iat"] - 3})
    other = await aw.sessions.verify_token(as_text)
    assert other is not first
    assert other.session_claims["staff"] == "True"
    assert first.session_claims["staff"] is True

    # A change of organization changes the claims, hence the answer.
    acme = await aw.organizations.create("acme", "Acme")
    await aw.organizations.add_member("acme", "user-1", "member")
    info = await aw.sessions.session_of(secret)
    await aw.sessions.set_active_org(info.id, "acme")
    in_org = await aw.sessions.verify_token(await aw.sessions.mint_token(secret))
    assert (in_org.org_id, first.org_id) == (acme.id, None)


async def test_what_is_not_a_session_token_is_routed_elsewhere(aw: Authward) -> None:
    secret, token = await signed_in(aw)
    _, claims = parts(token)
    key = await aw.signing_keys.signer()
    foreign = sign_session_token(key, {**claims, "iss": "https://someone-else.example"})
    async with client_for(aw) as c:
        # Another issuer's JWT in the cookie: not ours, falls through (no entry accepts: 401).
        fell = await c.get("/whoami", headers={"Cookie": f"__session={foreign}"})
        # The secret is never a credential for the API.
        secret_as_cookie = await c.get("/whoami", headers={"Cookie": f"__session={secret}"})
        secret_as_bearer = await c.get("/whoami", headers=bearer(secret))
    assert fell.status_code == 401
    assert fell.json()["error"] == "authentication_required"
    for response in (secret_as_cookie, secret_as_bearer):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert "POST /v1/sessions/token" in response.json()["message"]
        assert secret not in response.text

    request = Request({"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]})
    state = await authenticate_request(
        request,
        tokens=aw.verifier,
        api_keys=None,
        accepts_token=["session_token"],
        sessions=aw.sessions,
    )
    assert state.is_authenticated
    assert state.token_type == "session_token"
    assert isinstance(state.to_auth(), SessionAuth)
    await aw.sessions.revoke_all("user-1")
    state = await authenticate_request(
        request,
        tokens=aw.verifier,
        api_keys=None,
        accepts_token=["session_token"],
        sessions=aw.sessions,
    )
    assert (state.is_authenticated, state.reason) == (False, "session-revoked")
    state = await authenticate_request(
        request,
        tokens=aw.verifier,
        api_keys=None,
        accepts_token=["oauth_token"],
        sessions=aw.sessions,
    )
    assert state.reason == "token-type-not-accepted"


def test_accepting_session_tokens_needs_the_sessions(aw: Authward) -> None:
    with pytest.raises(ConfigError, match=r"session_token needs sessions=aw\.sessions"):
        authward_tokens(tokens=aw.verifier, accepts_token=["session_token"])


# -- the active organization --------------------------------------------------------------------


async def test_set_active_org_needs_a_membership(aw: Authward) -> None:
    acme = await aw.organizations.create("acme", "Acme")
    await aw.organizations.create("globex", "Globex")
    await aw.organizations.add_member("acme", "user-1", "viewer")
    secret, info = await aw.sessions.create("user-1")

    with pytest.raises(OrganizationError, match="'user-1' is not a member of 'globex'"):
        await aw.sessions.set_active_org(info.id, "globex")
    with pytest.raises(OrganizationError, match="no organization"):
        await aw.sessions.set_active_org(info.id, "nope")
    with pytest.raises(TokenError, match="no such session"):
        await aw.sessions.set_active_org("sid_nope", "acme")

    switched = await aw.sessions.set_active_org(info.id, acme.id)
    assert switched.active_org_id == acme.id
    _, claims = parts(await aw.sessions.mint_token(secret))
    assert (claims["org_id"], claims["org_role"], claims["org_permissions"]) == (
        acme.id,
        "viewer",
        [],
    )

    # A role change reaches the next token; so does leaving the organization.
    await aw.organizations.set_role("acme", "user-1", "admin")
    _, claims = parts(await aw.sessions.mint_token(secret))
    assert claims["org_role"] == "admin"
    assert claims["org_permissions"] == list(ROLES_T["admin"])
    await aw.organizations.remove_member("acme", "user-1")
    _, claims = parts(await aw.sessions.mint_token(secret))
    assert "org_id" not in claims
    assert "org_role" not in claims

    cleared = await aw.sessions.set_active_org(info.id, None)
    assert cleared.active_org_id is None
    await aw.sessions.revoke(info.id)
    with pytest.raises(TokenError) as err:
        await aw.sessions.set_active_org(info.id, None)
    assert err.value.reason == "session-revoked"
    kinds = [e.kind for e in await aw.audit.recent()]
    assert kinds.count("session.active_org_changed") == 2


# -- the mint endpoint --------------------------------------------------------------------------


def mint_client(aw: Authward, scheme: str = "http") -> httpx.AsyncClient:
    app = Starlette(routes=session_routes(aw.sessions))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"{scheme}://testserver"
    )


async def test_the_mint_endpoint_exchanges_the_secret_for_a_token(aw: Authward) -> None:
    acme = await aw.organizations.create("acme", "Acme")
    await aw.organizations.add_member("acme", "user-1", "member")
    secret, info = await aw.sessions.create("user-1")
    async with mint_client(aw, "https") as c:
        response = await c.post(
            "/v1/sessions/token", headers={"Cookie": f"__session_secret={secret}"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["session_id"] == info.id
        assert body["org_id"] is None
        assert body["expires_at"] == parts(body["token"])[1]["exp"]
        assert response.headers["cache-control"] == "no-store"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"__session={body['token']};")
        for attribute in ("HttpOnly", "Max-Age=60", "Path=/", "SameSite=lax", "Secure"):
            assert attribute in cookie
        assert (await aw.sessions.verify_token(body["token"])).session_id == info.id

        # The secret in the body works too, and can switch the active organization.
        switched = await c.post(
            "/v1/sessions/token", json={"session_secret": secret, "active_org_id": "acme"}
        )
        assert switched.status_code == 200, switched.text
        assert switched.json()["org_id"] == acme.id
        assert parts(switched.json()["token"])[1]["org_role"] == "member"

        await aw.organizations.create("globex", "Globex")
        not_member = await c.post(
            "/v1/sessions/token", json={"session_secret": secret, "active_org_id": "globex"}
        )
        assert not_member.status_code == 403
        assert not_member.json()["error"] == "not_a_member"

        missing = await c.post("/v1/sessions/token")
        assert missing.status_code == 400
        assert missing.json()["error"] == "invalid_request"
        not_json = await c.post("/v1/sessions/token", content=b"{nope")
        assert not_json.status_code == 400

        await aw.sessions.revoke(info.id)
        ended = await c.post("/v1/sessions/token", headers={"Cookie": f"__session_secret={secret}"})
    assert ended.status_code == 401
    assert ended.json() == {
        "error": "invalid_session",
        "message": "session has ended (signed out or revoked)",
        "reason": "session-revoked",
    }
    cleared = ended.headers.get_list("set-cookie")
    assert any(c.startswith('__session="";') or c.startswith("__session=;") for c in cleared)
    assert any(c.startswith("__session_secret=") and "Max-Age=0" in c for c in cleared)
    assert secret not in ended.text


async def test_the_mint_endpoint_over_http_sets_no_secure_cookie(aw: Authward) -> None:
    secret, _ = await aw.sessions.create("user-1")
    async with mint_client(aw) as c:
        response = await c.post(
            "/v1/sessions/token", headers={"Cookie": f"__session_secret={secret}"}
        )
    assert response.status_code == 200
    assert "Secure" not in response.headers["set-cookie"]


async def test_the_served_app_mints_session_tokens(sqlite_runtime: Authward) -> None:
    from authward.server.app import build_app

    secret, session = await sqlite_runtime.sessions.create("user_42", claims={"name": "Ada"})
    transport = httpx.ASGITransport(app=build_app(sqlite_runtime))
    async with httpx.AsyncClient(transport=transport, base_url="https://t") as client:
        client.cookies.set("__session_secret", secret)
        minted = await client.post("/v1/sessions/token")
    assert minted.status_code == 200
    body = minted.json()
    assert body["session_id"] == session.id
    principal = await sqlite_runtime.sessions.verify(body["token"])
    assert principal.principal_id == "user_42"
    assert principal.attributes["name"] == "Ada"


async def test_session_token_lifetime_comes_from_settings(
    tmp_path: Any, settings_for: Any, example_config: Any
) -> None:
    from tests.integration.test_tokens import parts

    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", session_token_lifetime_seconds=300
    )
    aw = await Authward.open(example_config, settings)
    try:
        secret, _ = await aw.sessions.create("user_1")
        _, claims = parts(await aw.sessions.mint_token(secret))
        assert claims["exp"] - claims["iat"] == 300
    finally:
        await aw.close()
