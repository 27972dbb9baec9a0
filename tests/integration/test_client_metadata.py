"""Clients identified by the URL of their metadata document (decision 048), against a real HTTPS
server on loopback with a test CA: Authlib signs in with a client_id URL and gets tokens; every
hostile document, address or URL is refused with a clear page or ``invalid_client``, never a
redirect to a URI the document does not list."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from authward import db, define_auth, define_config
from authward.config import Config
from authward.runtime import Authward
from tests.conftest import SettingsFactory
from tests.https_documents import Answer, DocumentServer
from tests.integration.authorize_support import (
    PASSWORD,
    USERNAME,
    Flow,
    auth_params,
    browser,
    query,
    sqlite_only,
)
from tests.integration.oauth_support import authlib_client, new_verifier

CALLBACK = "http://127.0.0.1:3000/callback"
#: Long enough that the client_id (with the server's origin) passes the old 64-character columns.
DOC = "/clients/ada-notes-desktop-application/oauth-client-metadata.json"


def cimd_config() -> Config:
    """No OAuth client declared: every client here is known by its document."""
    user = db.type("User", {"email": db.string().unique()})
    auth = define_auth(
        "cimd-auth",
        user_profile={"type": user, "username_field": "email"},
        resource_servers={"notes": {"url": "/mcp", "resource_name": "Notes tools"}},
    )
    return define_config(auth=auth, db=[user])


def document(url: str, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "client_id": url,
        "client_name": "Ada's Notes",
        "client_uri": "https://notes.example/about",
        "logo_uri": "https://cdn.notes.example/img/logo.png",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DocumentServer]:
    async with DocumentServer(tmp_path) as documents:
        yield documents


async def _open(settings_for: SettingsFactory, database_url: str, **settings: Any) -> Authward:
    runtime = await Authward.open(
        cimd_config(), settings_for(database_url, **settings), migrate=True
    )
    await runtime.users.create(USERNAME, PASSWORD)
    return runtime


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, server: DocumentServer
) -> AsyncIterator[Authward]:
    runtime = await _open(
        settings_for,
        database_url,
        client_metadata_allow_loopback=True,
        client_metadata_ca_bundle=server.ca_bundle,
    )
    yield runtime
    await runtime.close()


@pytest.fixture
async def flow(aw: Authward) -> AsyncIterator[Flow]:
    async with browser(aw) as http:
        yield Flow(http)


async def test_authlib_signs_in_with_a_client_id_url(
    aw: Authward, flow: Flow, server: DocumentServer
) -> None:
    url = server.url(DOC)
    server.json(DOC, document(url), cache_control="public, max-age=600")
    async with authlib_client(
        aw,
        url,
        None,
        token_endpoint_auth_method="none",
        redirect_uri=CALLBACK,
        scope="openid offline_access",
        code_challenge_method="S256",
    ) as oauth:
        verifier = new_verifier()
        resource = aw.resource("notes").url
        authorize_url, _ = oauth.create_authorization_url(
            aw.issuer + "/oauth2/authorize", code_verifier=verifier, resource=resource
        )
        params = dict(parse_qsl(urlsplit(authorize_url).query))
        login = await flow.follow(await flow.start(params))
        assert "Ada&#39;s Notes" in login.text
        consent = await flow.follow(await flow.login(login))
        page = consent.text
        assert "Allow access?" in page
        assert "<strong>Ada&#39;s Notes</strong> wants to access your account" in page
        assert f"Published at {urlsplit(url).netloc} ({url})" in page
        assert "Website: https://notes.example/about" in page
        assert "Logo served from https://cdn.notes.example" in page
        assert "img/logo.png" not in page  # the page loads nothing from the document's hosts
        assert f"Use Notes tools ({resource}) as you" in page
        back = await flow.consent(consent)
        assert back.status_code == 303
        callback = back.headers["location"]
        assert callback.startswith(CALLBACK + "?")

        token = await oauth.fetch_token(
            aw.issuer + "/oauth2/token", authorization_response=callback, code_verifier=verifier
        )
        claims = await aw.verifier.verify_claims(token["access_token"])
        assert claims["client_id"] == url
        assert claims["aud"] == resource
        account = await aw.users.find(USERNAME)
        assert account is not None
        principal = await aw.verify_access_token(token["access_token"], resource="notes")
        assert principal.subject == account.id

        refreshed = await oauth.refresh_token(
            aw.issuer + "/oauth2/token", refresh_token=token["refresh_token"]
        )
        assert refreshed["access_token"] != token["access_token"]
    # Authorize, sign-in, consent, code and refresh: one fetch, kept for its max-age.
    assert server.requests[DOC] == 1


@sqlite_only
async def test_discovery_says_whether_client_id_urls_are_resolved(
    aw: Authward, settings_for: SettingsFactory, server: DocumentServer, tmp_path: Path
) -> None:
    async with browser(aw) as http:
        meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert meta["client_id_metadata_document_supported"] is True

    url = server.url(DOC)
    server.json(DOC, document(url))
    off = await _open(
        settings_for,
        f"sqlite+aiosqlite:///{tmp_path / 'off.db'}",
        client_metadata_documents=False,
        client_metadata_allow_loopback=True,
    )
    try:
        async with browser(off) as http:
            meta = (await http.get("/.well-known/openid-configuration")).json()
            page = await http.get(
                "/oauth2/authorize", params=auth_params(url, redirect_uri=CALLBACK)
            )
            token = await http.post(
                "/oauth2/token",
                data={"grant_type": "authorization_code", "code": "x", "client_id": url},
            )
    finally:
        await off.close()
    assert meta["client_id_metadata_document_supported"] is False
    assert page.status_code == 400
    assert "unknown client_id" in page.text
    assert token.status_code == 401
    assert token.json()["error"] == "invalid_client"
    assert server.requests[DOC] == 0


def _padded(url: str) -> dict[str, Any]:
    return document(url, software_statement="x" * 6000)


DOCUMENTS: dict[str, tuple[Any, str]] = {
    "foreign client_id": (
        lambda url: document("https://other.example/client.json"),
        "its client_id is not the URL it was fetched from",
    ),
    "too big": (_padded, "it is larger than 5120 bytes"),
    "redirect": (
        Answer(status=302, headers={"Location": "/elsewhere.json"}),
        "it answered with a redirect, which is not followed",
    ),
    "not JSON": (
        Answer(headers={"Content-Type": "text/html"}, body=b"<html>hello</html>"),
        "it is not JSON",
    ),
    "not found": (Answer(status=404), "fetching it answered HTTP 404, not 200"),
    "shared secret method": (
        lambda url: document(url, token_endpoint_auth_method="client_secret_basic"),
        "client_secret_basic needs a shared secret",
    ),
    "client secret": (
        lambda url: document(url, client_secret="s3cr3t-value-in-a-public-document"),
        "it must not contain a client_secret",
    ),
    "no redirect URIs": (
        lambda url: document(url, redirect_uris=[]),
        "redirect_uris must be a non-empty list",
    ),
    "script redirect URI": (
        lambda url: document(url, redirect_uris=["javascript:alert(1)"]),
        "a redirect URI must be https",
    ),
    "private key": (
        lambda url: document(url, jwks={"keys": [{"kty": "EC", "crv": "P-256", "d": "AAAA"}]}),
        "it must not contain private key material",
    ),
}


@sqlite_only
@pytest.mark.parametrize("case", list(DOCUMENTS))
async def test_a_hostile_document_is_refused_at_both_endpoints(
    aw: Authward, flow: Flow, server: DocumentServer, case: str
) -> None:
    url = server.url(DOC)
    make, reason = DOCUMENTS[case]
    if isinstance(make, Answer):
        server.answers[DOC] = make
    else:
        server.answers[DOC] = Answer(body=json.dumps(make(url)).encode())
    page = await flow.start(auth_params(url, redirect_uri=CALLBACK))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "Invalid authorization request" in page.text
    assert reason in page.text
    assert "Traceback" not in page.text
    token = await flow.http.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": "awcode_x", "client_id": url},
    )
    assert token.status_code == 401
    assert token.json()["error"] == "invalid_client"
    assert reason in token.json()["error_description"]
    # The failure is remembered for a few seconds only (tests/unit: not beyond).
    assert server.requests[DOC] == 1


@sqlite_only
async def test_a_redirect_uri_the_document_does_not_list_is_not_redirected_to(
    aw: Authward, flow: Flow, server: DocumentServer
) -> None:
    url = server.url(DOC)
    server.json(DOC, document(url))
    page = await flow.start(auth_params(url, redirect_uri="https://attacker.example/cb"))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "not one of the client&#39;s registered redirect URIs" in page.text
    # Listed, but PKCE missing: refused back to the client, as for any public client.
    answer = await flow.start(auth_params(url, redirect_uri=CALLBACK, code_challenge=None))
    assert answer.status_code == 303
    assert query(answer.headers["location"])["error"] == ["invalid_request"]


@sqlite_only
async def test_a_url_client_has_no_secret_to_present(aw: Authward, server: DocumentServer) -> None:
    url = server.url(DOC)
    server.json(DOC, document(url))
    async with browser(aw) as http:
        answer = await http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": "awcode_x",
                "redirect_uri": CALLBACK,
                "client_id": url,
                "client_secret": "a-guessed-secret",
            },
        )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert "public client has no secret" in answer.json()["error_description"]


@sqlite_only
@pytest.mark.parametrize(
    ("client_id", "reason"),
    [
        ("https://127.0.0.1/client.json#frag", "must not contain a fragment"),
        ("https://user:pw@127.0.0.1/client.json", "must not contain a user name or password"),
        ("https://127.0.0.1/a/../client.json", "must not contain . or .. path segments"),
        ("https://127.0.0.1", "must have a path"),
        ("https://127.0.0.1/" + "a" * 250, "at most 255 characters"),
    ],
)
async def test_a_malformed_client_id_url_is_refused_before_any_fetch(
    flow: Flow, client_id: str, reason: str
) -> None:
    page = await flow.start(auth_params(client_id, redirect_uri=CALLBACK))
    assert page.status_code == 400
    assert reason in page.text


@sqlite_only
async def test_only_https_urls_are_client_ids(flow: Flow, server: DocumentServer) -> None:
    url = server.url(DOC).replace("https://", "http://")
    page = await flow.start(auth_params(url, redirect_uri=CALLBACK))
    assert page.status_code == 400
    assert "unknown client_id" in page.text
    assert server.requests[DOC] == 0


@sqlite_only
@pytest.mark.parametrize(
    "host", ["10.0.0.7", "169.254.169.254", "192.168.1.1", "[fd00::1]", "[fe80::1]", "100.64.0.1"]
)
async def test_private_and_special_addresses_are_refused(flow: Flow, host: str) -> None:
    page = await flow.start(
        auth_params(f"https://{host}/latest/meta-data.json", redirect_uri=CALLBACK)
    )
    assert page.status_code == 400
    assert "its host resolves to a private or special-use address" in page.text


async def test_loopback_is_refused_unless_the_development_setting_allows_it(
    settings_for: SettingsFactory, server: DocumentServer, tmp_path: Path
) -> None:
    runtime = await _open(
        settings_for,
        f"sqlite+aiosqlite:///{tmp_path / 'strict.db'}",
        client_metadata_ca_bundle=server.ca_bundle,
    )
    try:
        async with browser(runtime) as http:
            for host in ("127.0.0.1", "localhost"):
                url = server.url(DOC, host=host)
                server.json(DOC, document(url))
                page = await http.get(
                    "/oauth2/authorize", params=auth_params(url, redirect_uri=CALLBACK)
                )
                assert page.status_code == 400
                assert "private or special-use address" in page.text
    finally:
        await runtime.close()
    assert server.requests[DOC] == 0


@sqlite_only
async def test_a_name_is_checked_then_connected_to_by_address_with_tls_for_the_name(
    aw: Authward, flow: Flow, server: DocumentServer
) -> None:
    # localhost resolves to loopback (allowed here); the certificate is checked for "localhost".
    url = server.url(DOC, host="localhost")
    server.json(DOC, document(url, client_name=None))
    login = await flow.follow(await flow.start(auth_params(url, redirect_uri=CALLBACK)))
    assert f"localhost:{server.port}" in login.text  # no client_name: the host names it
