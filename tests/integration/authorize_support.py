"""What the authorization-endpoint tests share: a config with two clients, PKCE, the steps of the
browser flow driven through httpx against the in-process app, and HTML form scraping."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from authward import db, define_auth, define_config
from authward.config import Config
from authward.config.idp import IdProvider
from authward.runtime import Authward
from authward.server.app import build_app

#: For tests whose outcome does not depend on the store: run them on SQLite only (the suite
#: creates a PostgreSQL database per test, which costs seconds).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

REDIRECT = "https://client.example/cb"
#: A registered redirect URI with its own query (kept when the response is appended).
REDIRECT_WITH_QUERY = "http://127.0.0.1:9999/cb?tenant=a"
LOGOUT_TARGET = "https://client.example/signed-out"
USERNAME = "ada@example.com"
PASSWORD = "correct horse battery staple"


def browser_config(
    *, id_provider: IdProvider | None = None, redirect_uris: tuple[str, ...] = ()
) -> Config:
    user = db.type("User", {"email": db.string().unique()})
    auth = define_auth(
        "browser-auth",
        user_profile={"type": user, "username_field": "email"},
        oauth2_clients={
            "web": {
                "redirect_uris": [REDIRECT, REDIRECT_WITH_QUERY, *redirect_uris],
                "description": "The <b>web</b> app",
                "post_logout_redirect_uris": [LOGOUT_TARGET],
            },
            "no-refresh": {
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code"],
            },
        },
        id_provider=id_provider,
    )
    return define_config(auth=auth, db=[user])


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


async def client_id(aw: Authward, name: str = "web") -> str:
    found = await aw.clients.get(name)
    assert found is not None
    return found.client_id


def auth_params(cid: str, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": cid,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "st-" + secrets.token_hex(4),
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
        "nonce": "n-1",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def browser(aw: Authward) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(aw)), base_url="http://testserver"
    )


def form_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a page's form."""
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {name: html.unescape(value) for name, value in fields}


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@dataclass
class Flow:
    """One browser going through the authorization endpoint."""

    http: httpx.AsyncClient

    async def start(self, params: dict[str, str]) -> httpx.Response:
        return await self.http.get("/oauth2/authorize", params=params)

    async def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith("/"), location
        return await self.http.get(location)

    async def login(
        self, page: httpx.Response, username: str = USERNAME, password: str = PASSWORD
    ) -> httpx.Response:
        fields = form_fields(page.text)
        return await self.http.post(
            "/login", data={**fields, "username": username, "password": password}
        )

    async def consent(self, page: httpx.Response, decision: str = "allow") -> httpx.Response:
        assert "Allow access?" in page.text, page.text
        return await self.http.post(
            "/consent", data={**form_fields(page.text), "decision": decision}
        )

    async def sign_in_and_consent(self, params: dict[str, str]) -> httpx.Response:
        """From the authorization request to the redirect back to the client, signing in and
        allowing as the pages ask."""
        response = await self.start(params)
        if _to_login(response):
            response = await self.follow(await self.login(await self.follow(response)))
        if response.status_code == 200 and "Allow access?" in response.text:
            response = await self.consent(response)
        return response


def _to_login(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/login?")


def redirected_to_client(response: httpx.Response, redirect_uri: str = REDIRECT) -> dict[str, Any]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    base = redirect_uri.split("?")[0]
    assert location.startswith(base + "?"), location
    return {k: v[0] for k, v in query(location).items()}
