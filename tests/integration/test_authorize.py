"""The authorization endpoint on SQLite and PostgreSQL: what is refused without a redirect (unknown
client, unregistered redirect URIs), what is refused back to the client (with state and iss), and
the code flow through the login and consent pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from authward.oauth.authorize import AuthorizationError, parse_authorization_request
from authward.runtime import Authward
from authward.tokens import opaque
from tests.conftest import SettingsFactory
from tests.integration.authorize_support import (
    PASSWORD,
    REDIRECT,
    REDIRECT_WITH_QUERY,
    USERNAME,
    Flow,
    auth_params,
    browser,
    browser_config,
    client_id,
    redirected_to_client,
    sqlite_only,
)


@pytest.fixture
async def aw(database_url: str, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    runtime = await Authward.open(browser_config(), settings_for(database_url), migrate=True)
    await runtime.users.create(USERNAME, PASSWORD)
    yield runtime
    await runtime.close()


@pytest.fixture
async def flow(aw: Authward) -> AsyncIterator[Flow]:
    async with browser(aw) as http:
        yield Flow(http)


@pytest.fixture
async def sqlite_aw(tmp_path: Path, settings_for: SettingsFactory) -> AsyncIterator[Authward]:
    """For validation that never reaches the store: no need to run it on both."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}"
    runtime = await Authward.open(browser_config(), settings_for(url), migrate=True)
    yield runtime
    await runtime.close()


@pytest.fixture
async def sqlite_flow(sqlite_aw: Authward) -> AsyncIterator[Flow]:
    async with browser(sqlite_aw) as http:
        yield Flow(http)


async def test_code_flow_returns_code_state_and_iss(aw: Authward, flow: Flow) -> None:
    params = auth_params(await client_id(aw), dpop_jkt="A" * 43)
    answer = redirected_to_client(await flow.sign_in_and_consent(params))
    assert answer["state"] == params["state"]
    assert answer["iss"] == aw.issuer
    assert answer["code"].startswith("awcode_")
    stored = await aw.oauth.grants.get(opaque.digest(answer["code"]))
    assert stored is not None
    account = await aw.users.find(USERNAME)
    assert account is not None
    assert stored.subject == account.id
    assert stored.data["redirect_uri"] == REDIRECT
    assert stored.data["scopes"] == ["openid", "profile"]
    assert stored.data["nonce"] == "n-1"
    assert stored.data["code_challenge"] == params["code_challenge"]
    assert stored.data["dpop_jkt"] == "A" * 43
    assert stored.data["session_id"].startswith("sid_")


@sqlite_only
async def test_registered_query_is_kept_and_post_is_accepted(aw: Authward, flow: Flow) -> None:
    params = auth_params(await client_id(aw), redirect_uri=REDIRECT_WITH_QUERY)
    # OIDC Core §3.1.2.1: the same request, form-serialized.
    login_page = await flow.follow(await flow.http.post("/oauth2/authorize", data=params))
    consent_page = await flow.follow(await flow.login(login_page))
    answer = redirected_to_client(await flow.consent(consent_page), REDIRECT_WITH_QUERY)
    assert answer["tenant"] == "a"
    assert answer["state"] == params["state"]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/cb",
        REDIRECT + "/more",
        REDIRECT + "?next=https://evil.example",
        REDIRECT + "/",
        "HTTPS://client.example/cb",
        "https://client.example/CB",
        "https://client.example:443/cb",
        "https://client.example.evil.example/cb",
        "https://client.example/cb/../cb",
        REDIRECT + "#x",
    ],
)
async def test_unregistered_redirect_uri_shows_a_page_and_never_redirects(
    sqlite_aw: Authward, sqlite_flow: Flow, redirect_uri: str
) -> None:
    response = await sqlite_flow.start(
        auth_params(await client_id(sqlite_aw), redirect_uri=redirect_uri)
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "registered redirect URIs" in response.text
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_id": "awc_unknown"}, "unknown client_id"),
        ({"client_id": None}, "client_id is missing"),
        ({"redirect_uri": None}, "redirect_uri is missing"),
        ({"redirect_uri": "https://client.example/" + "x" * 3000}, "redirect_uri is too long"),
    ],
)
async def test_untrusted_client_or_redirect_shows_a_page(
    sqlite_aw: Authward, sqlite_flow: Flow, change: dict[str, str | None], message: str
) -> None:
    response = await sqlite_flow.start(auth_params(await client_id(sqlite_aw), **change))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert message in response.text


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
async def test_repeated_client_id_or_redirect_uri_shows_a_page(
    sqlite_aw: Authward, sqlite_flow: Flow, name: str
) -> None:
    params = list(auth_params(await client_id(sqlite_aw)).items())
    params.append((name, dict(params)[name]))
    response = await sqlite_flow.http.get("/oauth2/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "more than once" in response.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "sometimes"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://client.example/r"}, "request_uri_not_supported"),
        ({"dpop_jkt": "not-a-thumbprint"}, "invalid_request"),
        ({"nonce": "n" * 3000}, "invalid_request"),
    ],
)
async def test_bad_requests_are_sent_back_with_state_and_iss(
    sqlite_aw: Authward, sqlite_flow: Flow, change: dict[str, str | None], error: str
) -> None:
    params = auth_params(await client_id(sqlite_aw), **change)
    answer = redirected_to_client(await sqlite_flow.start(params))
    assert answer["error"] == error
    assert answer["error_description"]
    assert answer["state"] == params["state"]
    assert answer["iss"] == sqlite_aw.issuer
    assert "code" not in answer


@pytest.mark.parametrize("name", ["state", "scope", "response_type", "code_challenge"])
async def test_repeated_parameters_are_invalid_requests(
    sqlite_aw: Authward, sqlite_flow: Flow, name: str
) -> None:
    params = list(auth_params(await client_id(sqlite_aw)).items())
    params.append((name, dict(params)[name]))
    answer = redirected_to_client(await sqlite_flow.http.get("/oauth2/authorize", params=params))
    assert answer["error"] == "invalid_request"
    assert answer["iss"] == sqlite_aw.issuer


async def test_offline_access_needs_a_client_allowed_refresh_tokens(
    sqlite_aw: Authward, sqlite_flow: Flow
) -> None:
    params = auth_params(await client_id(sqlite_aw, "no-refresh"), scope="openid offline_access")
    answer = redirected_to_client(await sqlite_flow.start(params))
    assert answer["error"] == "invalid_scope"


async def test_unknown_parameters_are_ignored_and_empty_ones_omitted(
    sqlite_aw: Authward, sqlite_flow: Flow
) -> None:
    params = auth_params(await client_id(sqlite_aw), ui_locales="fr", claims="{}", prompt="")
    response = await sqlite_flow.start(params)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?ticket=")


async def test_prompt_none_answers_login_required_then_consent_required(
    aw: Authward, flow: Flow
) -> None:
    cid = await client_id(aw)
    params = auth_params(cid, prompt="none")
    answer = redirected_to_client(await flow.start(params))
    assert (answer["error"], answer["state"], answer["iss"]) == (
        "login_required",
        params["state"],
        aw.issuer,
    )
    # Signed in, but this client was never allowed.
    await flow.login(await flow.http.get("/login"))
    answer = redirected_to_client(await flow.start(auth_params(cid, prompt="none")))
    assert answer["error"] == "consent_required"
    redirected_to_client(await flow.sign_in_and_consent(auth_params(cid)))
    answer = redirected_to_client(await flow.start(auth_params(cid, prompt="none")))
    assert "code" in answer


async def test_login_hint_prefills_the_username(sqlite_aw: Authward, sqlite_flow: Flow) -> None:
    params = auth_params(await client_id(sqlite_aw), login_hint='eve"<b>@example.com')
    page = await sqlite_flow.follow(await sqlite_flow.start(params))
    assert 'value="eve&#34;&lt;b&gt;@example.com"' in page.text
    assert "<b>@" not in page.text


@dataclass(frozen=True)
class _Client:
    client_id: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]


def test_a_client_without_the_code_grant_is_unauthorized() -> None:
    # The config only allows clients with authorization_code today; the check guards the future
    # (clients registered for other grants only).
    client = _Client("awc_m2m", (REDIRECT,), ("client_credentials",))
    params = list(auth_params("awc_m2m").items())
    with pytest.raises(AuthorizationError) as caught:
        parse_authorization_request(params, {"awc_m2m": client}.get)
    assert caught.value.error.code == "unauthorized_client"
    assert caught.value.redirect_uri == REDIRECT
