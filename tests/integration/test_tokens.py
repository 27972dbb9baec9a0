"""Machine-user tokens: what they carry, and every way a bad one must be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
import pytest
from joserfc.jwk import OKPKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from authward.channel import AuthMiddleware, authward_tokens
from authward.errors import TokenError
from authward.principal import Principal
from authward.runtime import Authward
from authward.tokens.access_token import sign_access_token
from authward.tokens.keys import SigningKey, generate_signing_key


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(head))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


async def resign(aw: Authward, claims: dict[str, Any], **header: Any) -> str:
    """Sign with the issuer's real key: only the claims (or header) are wrong."""
    key = await aw.signing_keys.signer()
    if header:
        from joserfc import jws

        full = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt", **header}
        return jws.serialize_compact(
            full, json.dumps(claims).encode(), key.key, algorithms=[full["alg"]]
        )
    return sign_access_token(key, claims)


async def refused(aw: Authward, token: str) -> str:
    with pytest.raises(TokenError) as err:
        await aw.verify_access_token(token)
    assert "\n" not in str(err.value)
    return err.value.reason


async def test_token_carries_the_configured_attributes(sqlite_runtime: Authward) -> None:
    aw = sqlite_runtime
    token = await aw.machine_user_token("admin-machine-user")
    header, claims = parts(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "EdDSA"
    stored = await aw.machine_users.get("admin-machine-user")
    assert stored is not None
    assert claims["sub"] == str(stored.id)
    assert claims["client_id"] == stored.client_id
    assert claims["iss"] == aw.issuer == "http://127.0.0.1:8000"
    assert claims["aud"] == aw.issuer
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["attribute_map"] == {"role": "ADMIN"}
    assert claims["attributes"] == [
        "550e8400-e29b-41d4-a716-446655440000",
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    ]
    assert (
        len({parts(await aw.machine_user_token("admin-machine-user"))[1]["jti"] for _ in range(3)})
        == 3
    )

    principal = await aw.verify_access_token(token)
    assert principal == Principal(
        authenticator="authward",
        principal_type="machine",
        principal_id=str(stored.id),
        subject=str(stored.id),
        attributes={"role": "ADMIN"},
        attribute_list=(
            UUID("550e8400-e29b-41d4-a716-446655440000"),
            UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
        ),
    )


async def test_alg_none_is_refused(sqlite_runtime: Authward) -> None:
    token = await sqlite_runtime.machine_user_token("readonly-machine-user")
    header, claims = parts(token)
    claims["attribute_map"] = {"role": "ADMIN"}
    forged = (
        f"{b64(json.dumps({**header, 'alg': 'none'}).encode())}.{b64(json.dumps(claims).encode())}."
    )
    assert await refused(sqlite_runtime, forged) == "token-invalid"


async def test_symmetric_alg_keyed_with_the_public_key_is_refused(sqlite_runtime: Authward) -> None:
    aw = sqlite_runtime
    token = await aw.machine_user_token("readonly-machine-user")
    header, claims = parts(token)
    jwk = (await aw.jwks())["keys"][0]
    signing_input = (
        f"{b64(json.dumps({**header, 'alg': 'HS256'}).encode())}.{b64(json.dumps(claims).encode())}"
    )
    for secret in (json.dumps(jwk).encode(), base64.urlsafe_b64decode(jwk["x"] + "==")):
        sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert await refused(aw, f"{signing_input}.{b64(sig)}") == "token-invalid"


async def test_tampered_payload_is_refused(sqlite_runtime: Authward) -> None:
    aw = sqlite_runtime
    token = await aw.machine_user_token("readonly-machine-user")
    head, _, sig = token.split(".")
    _, claims = parts(token)
    claims["attribute_map"] = {"role": "ADMIN"}
    assert await refused(aw, f"{head}.{b64(json.dumps(claims).encode())}.{sig}") == (
        "token-invalid-signature"
    )


async def test_foreign_key_with_a_stolen_kid_is_refused(sqlite_runtime: Authward) -> None:
    aw = sqlite_runtime
    real = await aw.signing_keys.signer()
    _, claims = parts(await aw.machine_user_token("readonly-machine-user"))
    impostor = generate_signing_key("EdDSA")
    forged = sign_access_token(SigningKey(kid=real.kid, alg="EdDSA", key=impostor.key), claims)
    assert await refused(aw, forged) == "token-invalid-signature"


async def test_unknown_kid_is_refused(sqlite_runtime: Authward) -> None:
    _, claims = parts(await sqlite_runtime.machine_user_token("readonly-machine-user"))
    stranger = generate_signing_key("ES256")
    assert await refused(sqlite_runtime, sign_access_token(stranger, claims)) == "token-invalid"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # Times are taken when the test runs (a long suite must not age them).
        (lambda now: {"iss": "https://evil.example"}, "token-invalid-issuer"),
        (lambda now: {"aud": "https://other-service.example"}, "token-invalid-audience"),
        (lambda now: {"exp": now - 31}, "token-expired"),
        (lambda now: {"iat": now + 600}, "token-not-active-yet"),
        (lambda now: {"sub": "00000000-0000-0000-0000-000000000000"}, "token-subject-unknown"),
        (lambda now: {"client_id": "awm_someone-else"}, "token-subject-unknown"),
        (lambda now: {"jti": None}, "token-invalid"),
    ],
)
async def test_wrong_claims_are_refused(
    sqlite_runtime: Authward, change: Callable[[int], dict[str, Any]], reason: str
) -> None:
    _, claims = parts(await sqlite_runtime.machine_user_token("readonly-machine-user"))
    claims.update(change(int(time.time())))
    claims = {k: v for k, v in claims.items() if v is not None}
    assert await refused(sqlite_runtime, await resign(sqlite_runtime, claims)) == reason


async def test_expiry_allows_the_configured_leeway(sqlite_runtime: Authward) -> None:
    _, claims = parts(await sqlite_runtime.machine_user_token("readonly-machine-user"))
    claims["exp"] = int(time.time()) - 5
    await sqlite_runtime.verify_access_token(await resign(sqlite_runtime, claims))


async def test_missing_typ_is_refused(sqlite_runtime: Authward) -> None:
    _, claims = parts(await sqlite_runtime.machine_user_token("readonly-machine-user"))
    assert await refused(sqlite_runtime, await resign(sqlite_runtime, claims, typ="JWT")) == (
        "token-invalid"
    )


@pytest.mark.parametrize(
    "garbage", ["", "abc", "a.b.c", "eyJ.eyJ.sig", "🔑.🔑.🔑", "a" * 5000, "x.y.z.w"]
)
async def test_garbage_is_refused_cleanly(sqlite_runtime: Authward, garbage: str) -> None:
    assert await refused(sqlite_runtime, garbage) == "token-invalid"


async def test_revoked_token_is_refused_here_and_in_another_process(
    sqlite_runtime: Authward, settings_for: Any, example_config: Any
) -> None:
    aw = sqlite_runtime
    other = await Authward.open(example_config, aw.settings)
    try:
        token = await aw.machine_user_token("admin-machine-user")
        kept = await aw.machine_user_token("admin-machine-user")
        await other.verify_access_token(token)
        assert await aw.revoke_token(token) is True
        assert await aw.revoke_token(token) is False
        assert await refused(aw, token) == "token-revoked"
        other.verifier.invalidate()  # what cache_refresh_seconds does by itself
        assert await refused(other, token) == "token-revoked"
        await other.verify_access_token(kept)
    finally:
        await other.close()
    events = await aw.audit.recent(kind="token.revoked")
    assert len(events) == 1
    assert token not in json.dumps([e.detail for e in events])


class StepClock:
    """A monotonic clock the test moves: where the view's age falls must not depend on load."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_view_past_half_the_interval_is_reloaded_in_the_background(
    runtime: Authward, example_config: Any
) -> None:
    aw, verifier = runtime, runtime.verifier
    refresh = aw.settings.cache_refresh_seconds
    other = await Authward.open(example_config, aw.settings)  # another process, same database
    try:
        clock = StepClock()
        verifier.monotonic = clock
        by_http, direct, later = [
            await aw.machine_user_token("admin-machine-user") for _ in range(3)
        ]

        async def hello(request: Request) -> PlainTextResponse:
            return PlainTextResponse("ok")

        app = AuthMiddleware(
            Starlette(routes=[Route("/", hello)]), auth=[authward_tokens(tokens=aw.verifier)]
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            verifier.invalidate()
            await aw.verify_access_token(direct)  # the view is loaded at clock.now
            loaded, loads = clock.now, verifier.loads
            # The first request verifies in full; the second takes the channel's cached path.
            assert (await c.get("/", headers={"Authorization": f"Bearer {by_http}"})).text == "ok"
            for token in (by_http, direct, later):
                assert await other.revoke_token(token) is True

            # Before half the interval the view is simply used: no reload starts.
            clock.now = loaded + refresh * 0.4
            response = await c.get("/", headers={"Authorization": f"Bearer {by_http}"})
            assert response.status_code == 200
            assert verifier.reloading is None

            # In the early window both paths answer from the view they have (the revocations
            # are not in it yet) and leave one reload running in the background.
            clock.now = loaded + refresh * 0.6
            response = await c.get("/", headers={"Authorization": f"Bearer {by_http}"})
            assert response.status_code == 200
            reload = verifier.reloading
            assert reload is not None
            assert verifier.loads == loads  # answered before the reload ran
            assert await aw.verify_access_token(direct)
            assert verifier.reloading is reload  # one reload at a time
            assert verifier.loads == loads
            await reload
            assert verifier.loads == loads + 1
            assert verifier.reloading is None

            # The background reload brought the revocations, without the clock moving on.
            refused_now = await c.get("/", headers={"Authorization": f"Bearer {by_http}"})
            assert refused_now.status_code == 401
            assert refused_now.json()["message"] == "token has been revoked"
            assert await refused(aw, direct) == "token-revoked"
            assert verifier.loads == loads + 1

            # A view as old as the full interval is never used: the request waits for the reload.
            other_token = await other.machine_user_token("admin-machine-user")
            await aw.verify_access_token(other_token)
            assert await other.revoke_token(other_token) is True
            clock.now += refresh
            assert await refused(aw, other_token) == "token-revoked"
            assert verifier.loads == loads + 2
            assert verifier.reloading is None
            assert await refused(aw, later) == "token-revoked"
    finally:
        await other.close()


async def test_a_key_rotated_in_another_process_signs_here_after_a_background_reload(
    runtime: Authward, example_config: Any
) -> None:
    """The signing key comes with the verifier's view: token requests never wait for it while
    the view is younger than the interval, and the key rotated elsewhere signs here once the
    background reload has read it."""
    aw, verifier = runtime, runtime.verifier
    refresh = aw.settings.cache_refresh_seconds
    other = await Authward.open(example_config, aw.settings)  # another process, same database
    try:
        clock = StepClock()
        verifier.monotonic = clock
        verifier.invalidate()
        before = parts(await aw.machine_user_token("admin-machine-user"))[0]["kid"]
        loads = verifier.loads
        rotated = (await other.rotate_keys())[0]

        clock.now += refresh * 0.6  # past half the interval: a background reload starts
        issued = parts(await aw.machine_user_token("admin-machine-user"))[0]["kid"]
        assert issued == before  # answered from the view it had, without waiting
        reload = verifier.reloading
        assert reload is not None
        await reload
        assert verifier.loads == loads + 1
        after = await aw.machine_user_token("admin-machine-user")
        assert parts(after)[0]["kid"] == rotated.kid
        assert (await other.verify_access_token(after)).principal_type == "machine"
    finally:
        await other.close()


async def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(
    sqlite_runtime: Authward,
) -> None:
    aw = sqlite_runtime
    old = await aw.machine_user_token("admin-machine-user")
    rotated = await aw.rotate_keys("ES256")
    new_key = rotated[0]
    new = await aw.machine_user_token("admin-machine-user")
    assert parts(new)[0] == {"alg": "ES256", "kid": new_key.kid, "typ": "at+jwt"}
    assert parts(old)[0]["kid"] != new_key.kid
    await aw.verify_access_token(old)
    await aw.verify_access_token(new)
    kids = [k["kid"] for k in (await aw.jwks())["keys"]]
    # The new keys (the access-token key first, then the ID-token ones), then the old ones.
    assert kids[: len(rotated)] == [k.kid for k in rotated]
    assert parts(old)[0]["kid"] in kids[len(rotated) :]


async def test_retired_key_leaves_the_jwks_after_its_tokens_expire(
    sqlite_runtime: Authward,
) -> None:
    from datetime import UTC, datetime, timedelta

    from authward.store.schema import signing_keys

    aw = sqlite_runtime
    old = await aw.machine_user_token("admin-machine-user")
    rotated = await aw.rotate_keys()
    async with aw.engine.begin() as conn:
        await conn.execute(
            signing_keys.update()
            .where(signing_keys.c.retired_at.is_not(None))
            .values(publish_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    # A hand-made change is not counted (store/changes.py): read everything.
    aw.verifier.views.reset()
    aw.verifier.invalidate()
    assert [k["kid"] for k in (await aw.jwks())["keys"]] == [k.kid for k in rotated]
    assert await refused(aw, old) == "token-invalid"


def test_jwk_is_public_only() -> None:
    key = generate_signing_key("EdDSA")
    assert "d" not in key.public_jwk
    assert OKPKey.import_key(key.public_jwk).is_private is False


async def test_a_cached_verification_still_sees_expiry_revocation_and_key_removal(
    sqlite_runtime: Authward, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from authward.store.schema import signing_keys

    aw = sqlite_runtime
    token = await aw.machine_user_token("admin-machine-user")
    await aw.verify_access_token(token)  # now cached
    _, claims = parts(token)
    monkeypatch.setattr(aw.verifier, "_clock", lambda: claims["exp"] + 31)
    assert await refused(aw, token) == "token-expired"
    monkeypatch.undo()

    other = await aw.machine_user_token("admin-machine-user")
    await aw.verify_access_token(other)
    await aw.rotate_keys()
    async with aw.engine.begin() as conn:
        await conn.execute(
            signing_keys.update()
            .where(signing_keys.c.retired_at.is_not(None))
            .values(publish_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    # A hand-made change is not counted (store/changes.py): read everything.
    aw.verifier.views.reset()
    aw.verifier.invalidate()
    assert await refused(aw, other) == "token-invalid"

    third = await aw.machine_user_token("admin-machine-user")
    await aw.verify_access_token(third)
    await aw.revoke_token(third)
    assert await refused(aw, third) == "token-revoked"
