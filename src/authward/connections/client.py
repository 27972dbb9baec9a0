"""authward as an OAuth 2.0 client of a connection provider (framework-free).

The authorization code flow (RFC 6749 §4.1) with PKCE S256 (RFC 7636) where the provider supports
it, the refresh grant (§6) and token revocation (RFC 7009). Providers that answer errors with
HTTP 200 (Slack's ``{"ok": false, "error": ...}``, GitHub's ``{"error": ...}``) are read the same
way as RFC 6749 §5.2 answers. Neither errors nor logs carry a code or a token.
"""

from __future__ import annotations

__all__ = [
    "ProviderClient",
    "ProviderUnreachable",
    "TokenRefused",
    "TokenSet",
    "pkce_pair",
    "token_set",
]

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from authward.config.connection import ConnectionProvider, TokenAuthMethod
from authward.config.idp import IdProvider
from authward.connections.errors import ConnectionsError

_MAX_RESPONSE_BYTES = 256 * 1024
_METADATA_MAX_AGE = 3600
_ERROR_CODE = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$")
_MAX_TOKEN = 16 * 1024


class TokenRefused(ConnectionsError):
    """The provider answered the token request with an OAuth error (``invalid_grant``, ...)."""

    code = "token_refused"

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(error)


class ProviderUnreachable(ConnectionsError):
    """No usable answer: network error, 5xx, or not JSON."""

    code = "provider_unreachable"


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    token_type: str
    expires_at: datetime | None
    scopes: tuple[str, ...] | None
    external_id: str | None = None
    label: str | None = None


def pkce_pair() -> tuple[str, str]:
    """A code verifier (RFC 7636 §4.1) and its S256 challenge (§4.2)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _short_error(value: object) -> str:
    return value if isinstance(value, str) and _ERROR_CODE.fullmatch(value) else "invalid_response"


def _scopes(value: object, separator: str) -> tuple[str, ...] | None:
    if isinstance(value, list):
        return tuple(s for s in value if isinstance(s, str))
    if not isinstance(value, str):
        return None
    return tuple(s for s in re.split(r"[ ,]+", value) if s)


def token_set(body: Mapping[str, Any], separator: str, now: datetime) -> TokenSet:
    """RFC 6749 §5.1, reading Slack's user token (``authed_user``) when the bot token is absent."""
    source: Mapping[str, Any] = body
    authed = body.get("authed_user")
    if "access_token" not in body and isinstance(authed, Mapping):
        source = authed
    access = source.get("access_token")
    if not isinstance(access, str) or not access or len(access) > _MAX_TOKEN:
        raise ProviderUnreachable("the token response has no access_token")
    refresh = source.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or len(refresh) > _MAX_TOKEN):
        raise ProviderUnreachable("the token response has an unreadable refresh_token")
    expires_in = source.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        expires_at = now + timedelta(seconds=float(expires_in))
    token_type = source.get("token_type")
    external: object = None
    label: object = None
    if isinstance(authed, Mapping):
        external = authed.get("id")
    external = external or body.get("user_id") or body.get("sub")
    team = body.get("team")
    if isinstance(team, Mapping):
        label = team.get("name")
    return TokenSet(
        access_token=access,
        refresh_token=refresh or None,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
        expires_at=expires_at,
        scopes=_scopes(source.get("scope"), separator),
        external_id=str(external)[:255] if isinstance(external, str | int) else None,
        label=str(label)[:255] if isinstance(label, str) else None,
    )


@dataclass(frozen=True, slots=True)
class _Endpoints:
    authorize_url: str
    token_url: str
    revocation_url: str | None


class ProviderClient:
    """One provider's endpoints and client credentials; ``http`` is shared by the vault."""

    def __init__(
        self,
        provider: ConnectionProvider,
        http: httpx.AsyncClient,
        *,
        id_provider: IdProvider | None = None,
    ) -> None:
        self.provider = provider
        self._http = http
        self._idp = id_provider
        self._endpoints: _Endpoints | None = None
        self._endpoints_at = 0.0
        client_id = provider.client_id or (id_provider.client_id if id_provider else None)
        if client_id is None:
            raise ValueError(f"{provider.name} has no client id")
        self.client_id = client_id
        self._secret: SecretStr | None = provider.client_secret or (
            id_provider.client_secret if id_provider else None
        )
        self._auth_method: TokenAuthMethod = provider.token_auth_method
        if id_provider is not None:
            self._auth_method = id_provider.token_auth_method or "client_secret_basic"

    @property
    def pkce(self) -> bool:
        return self.provider.pkce

    async def endpoints(self) -> _Endpoints:
        """The configured endpoints, or the id_provider's from its discovery document."""
        p = self.provider
        if p.authorize_url is not None and p.token_url is not None:
            return _Endpoints(p.authorize_url, p.token_url, p.revocation_url)
        if (
            self._endpoints is not None
            and time.monotonic() - self._endpoints_at < _METADATA_MAX_AGE
        ):
            return self._endpoints
        assert self._idp is not None
        url = self._idp.issuer + "/.well-known/openid-configuration"
        status, document = await self._request("GET", url)
        if status != 200 or not isinstance(document, dict):
            raise ProviderUnreachable(f"the discovery document answered HTTP {status}")
        authorize, token = document.get("authorization_endpoint"), document.get("token_endpoint")
        revocation = document.get("revocation_endpoint")
        if not isinstance(authorize, str) or not isinstance(token, str):
            raise ProviderUnreachable("the discovery document names no token endpoint")
        self._endpoints = _Endpoints(
            authorize, token, revocation if isinstance(revocation, str) else None
        )
        self._endpoints_at = time.monotonic()
        return self._endpoints

    async def authorize_url(
        self, *, redirect_uri: str, state: str, code_challenge: str | None
    ) -> str:
        p = self.provider
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        if p.scopes:
            params[p.scope_param] = p.scope_separator.join(p.scopes)
        if code_challenge is not None:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = "S256"
        params.update(p.extra_authorize_params)
        endpoint = (await self.endpoints()).authorize_url
        query = urlencode(params, quote_via=quote)
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def exchange(
        self, code: str, *, redirect_uri: str, code_verifier: str | None
    ) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return await self._token(form)

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def revoke(self, token: str, hint: str) -> bool:
        """RFC 7009; ``False`` when the provider has no revocation endpoint or refused."""
        url = (await self.endpoints()).revocation_url
        if url is None:
            return False
        form = {"token": token, "token_type_hint": hint}
        headers = self._client_auth(form)
        status, _ = await self._request("POST", url, data=form, headers=headers)
        return status == 200

    def _client_auth(self, form: dict[str, str]) -> dict[str, str]:
        if self._secret is None:
            form["client_id"] = self.client_id
            return {}
        if self._auth_method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = self._secret.get_secret_value()
            return {}
        # RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined.
        pair = f"{quote(self.client_id, safe='')}:{quote(self._secret.get_secret_value(), safe='')}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    async def _token(self, form: dict[str, str]) -> TokenSet:
        headers = self._client_auth(form)
        url = (await self.endpoints()).token_url
        now = datetime.now(UTC)
        status, body = await self._request("POST", url, data=form, headers=headers)
        if not isinstance(body, dict):
            raise ProviderUnreachable(f"the token endpoint answered HTTP {status} without JSON")
        error = body.get("error")
        if body.get("ok") is False or error is not None or status != 200:
            if status >= 500 or status == 429:
                raise ProviderUnreachable(f"the token endpoint answered HTTP {status}")
            raise TokenRefused(_short_error(error))
        return token_set(body, self.provider.scope_separator, now)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        try:
            async with self._http.stream(
                method, url, data=data, headers={"Accept": "application/json", **(headers or {})}
            ) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_RESPONSE_BYTES:
                        raise ProviderUnreachable("the provider's response is too large")
                status = response.status_code
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"unreachable ({type(exc).__name__})") from None
        if not body:
            return status, None
        try:
            return status, json.loads(body)
        except ValueError:
            return status, None
