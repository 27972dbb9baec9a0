"""The ``id_token_hint`` of a sign-out request, against the runtime's published keys: another
spelling of one of our ID tokens is not one of them, and a hint not valid yet (``nbf`` past the
token leeway, or not a number) is refused; an expired one is still accepted."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from authward.oauth.end_session import LogoutRequest, parse_logout_request
from authward.oauth.errors import InvalidRequest
from authward.oauth.token import ID_TOKEN_TYP
from authward.runtime import Authward
from authward.tokens.jws_verify import verify_key_from_jwk
from authward.tokens.jwt import sign_jwt
from tests.respellings import RESPELLINGS, with_dash_or_underscore

CLIENT = "web-client"


async def hint(aw: Authward, **claims: Any) -> str:
    """An ID token of ours (expired, as hints often are) whose signature has a '-' or '_'."""
    now = int(time.time())
    base = {"iss": aw.issuer, "sub": "user-1", "aud": CLIENT, "iat": now - 7200, "exp": now - 3600}
    key = await aw.signing_keys.signer()
    return with_dash_or_underscore(
        lambda n: sign_jwt(key, {**base, "sid": f"s{n}", **claims}, typ=ID_TOKEN_TYP)
    )


async def logout(aw: Authward, id_token_hint: str) -> LogoutRequest:
    published = await aw.keys.published(datetime.now(UTC))
    return parse_logout_request(
        [("id_token_hint", id_token_hint)],
        issuer=aw.issuer,
        keys={k.kid: verify_key_from_jwk(k.public_jwk) for k in published},
        registered_uris=lambda client_id: () if client_id == CLIENT else None,
        leeway=aw.settings.token_leeway_seconds,
    )


async def refused(aw: Authward, id_token_hint: str) -> str:
    with pytest.raises(InvalidRequest) as refusal:
        await logout(aw, id_token_hint)
    return str(refusal.value.description)


@pytest.mark.parametrize("respell", RESPELLINGS.values(), ids=RESPELLINGS.keys())
async def test_another_spelling_of_a_hint_is_refused(
    sqlite_runtime: Authward, respell: Callable[[str], str]
) -> None:
    token = await hint(sqlite_runtime)
    assert await refused(sqlite_runtime, respell(token)) == (
        "id_token_hint is not an ID token issued here"
    )
    accepted = await logout(sqlite_runtime, token)
    assert (accepted.hint_subject, accepted.client_id) == ("user-1", CLIENT)


@pytest.mark.parametrize(
    ("nbf", "description"),
    [
        (lambda now, leeway: now + leeway + 60, "id_token_hint is not valid yet"),
        (lambda now, leeway: str(now), "id_token_hint is not an ID token issued here"),
        (lambda now, leeway: None, "id_token_hint is not an ID token issued here"),
    ],
    ids=["ahead of the leeway", "a string", "null"],
)
async def test_a_hint_not_valid_yet_is_refused(
    sqlite_runtime: Authward, nbf: Callable[[int, int], Any], description: str
) -> None:
    leeway = sqlite_runtime.settings.token_leeway_seconds
    token = await hint(sqlite_runtime, nbf=nbf(int(time.time()), leeway))
    assert await refused(sqlite_runtime, token) == description


@pytest.mark.parametrize("ahead", ["leeway", 0, -7200])
async def test_a_hint_within_the_leeway_of_its_nbf_is_accepted(
    sqlite_runtime: Authward, ahead: int | str
) -> None:
    leeway = sqlite_runtime.settings.token_leeway_seconds
    nbf = int(time.time()) + (leeway if ahead == "leeway" else int(ahead))
    accepted = await logout(sqlite_runtime, await hint(sqlite_runtime, nbf=nbf))
    assert accepted.hint_subject == "user-1"
