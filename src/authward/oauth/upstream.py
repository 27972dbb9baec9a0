"""authward as an OpenID Connect relying party of the app's ``id_provider`` (framework-free).

    upstream = Upstream(provider, redirect_uri)
    url, pending = await upstream.begin("/after")      # keep ``pending`` bound to the browser
    ...                                                # the browser signs in at the provider
    code = upstream.check_callback(query_items, pending, await upstream.metadata())
    identity = await upstream.redeem(code, pending)    # token exchange + ID token + userinfo

The authorization code flow of OIDC Core §3.1 with the defences of RFC 9700: PKCE S256 (RFC 7636),
``state`` (compared in constant time) against login CSRF, ``nonce`` against ID-token injection,
and the ``iss`` authorization response parameter (RFC 9207) against mix-up when the provider
advertises it. The ID token is checked as OIDC Core §3.1.3.7 says: the signature with the
provider's JWKS (``oauth/issuer_keys.py``, shared with ``channel/oidc.py``; an
asymmetric-algorithm allow-list), ``iss``, ``aud`` containing our client id, ``azp``, ``exp`` /
``iat`` / ``nbf`` (when present) with leeway, and ``nonce``; a token that is not three segments
of canonical base64url is refused.

Every refusal is an :class:`UpstreamError` with a stable ``reason`` (for audit and logs) and a
message for the person signing in; neither carries a code, token or secret.
"""

from __future__ import annotations

__all__ = ["Upstream"]

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeGuard
from urllib.parse import quote, urlencode, urlsplit

import httpx

from authward.config.idp import IdProvider
from authward.errors import TokenError, UnauthenticatedError
from authward.oauth.issuer_keys import IssuerKeys, IssuerUnavailable
from authward.oauth.upstream_values import (
    PendingLogin,
    ProviderMetadata,
    ProviderUnavailable,
    UpstreamError,
    UpstreamIdentity,
    identity_from_claims,
)
from authward.tokens.jws_verify import parse_compact, verify_compact

_METADATA_MAX_AGE = 3600
_MAX_RESPONSE_BYTES = 256 * 1024
_TIMEOUT = httpx.Timeout(10.0)
_MAX_CODE = 4096
#: RFC 6749 error codes are printable ASCII without quotes and backslashes (§4.1.2.1).
_ERROR_CODE = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _endpoint(document: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ProviderUnavailable(f"the provider's metadata has no {name}")
    parts = urlsplit(value)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ProviderUnavailable(f"the provider's {name} must use https")
    return value


async def _read_json(response: httpx.Response, what: str) -> Any:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > _MAX_RESPONSE_BYTES:
            raise ProviderUnavailable(f"the provider's {what} response is too large")
    try:
        return json.loads(body)
    except ValueError:
        raise ProviderUnavailable(f"the provider's {what} response is not JSON") from None


class Upstream:
    """The relying-party side of one configured provider. One per process: it caches the
    provider's metadata and keys. HTTP clients are short-lived (external sign-ins are rare)."""

    def __init__(
        self,
        provider: IdProvider,
        redirect_uri: str,
        *,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.redirect_uri = redirect_uri
        self._leeway = leeway
        self._clock = clock
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = float("-inf")
        self._keys = IssuerKeys(
            provider.issuer,
            algorithms=frozenset(provider.algorithms),
            refresh_seconds=300,
            min_refetch_interval=30,
            http=None,
        )

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=False)

    # -- discovery -------------------------------------------------------------------------------

    async def metadata(self) -> ProviderMetadata:
        """The provider's OpenID Connect Discovery document, cached for an hour."""
        if self._metadata is not None and time.monotonic() - self._metadata_at < _METADATA_MAX_AGE:
            return self._metadata
        url = self.provider.issuer + "/.well-known/openid-configuration"
        try:
            async with (
                self._client() as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise ProviderUnavailable(
                        f"{self.provider.name}'s discovery document answered HTTP "
                        f"{response.status_code}"
                    )
                document = await _read_json(response, "discovery")
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"{self.provider.name} could not be reached ({type(exc).__name__})"
            ) from None
        if not isinstance(document, dict):
            raise ProviderUnavailable("the provider's discovery document is not a JSON object")
        if document.get("issuer") != self.provider.issuer:
            # OIDC Discovery §4.3: a document naming another issuer is not this provider's.
            raise ProviderUnavailable(
                f"the discovery document of {self.provider.issuer} names another issuer"
            )
        methods = document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        challenge_methods = document.get("code_challenge_methods_supported")
        if isinstance(challenge_methods, list) and "S256" not in challenge_methods:
            raise ProviderUnavailable(f"{self.provider.name} does not support PKCE with S256")
        authorization = _endpoint(document, "authorization_endpoint")
        token = _endpoint(document, "token_endpoint")
        assert authorization is not None
        assert token is not None
        metadata = ProviderMetadata(
            issuer=self.provider.issuer,
            authorization_endpoint=authorization,
            token_endpoint=token,
            userinfo_endpoint=_endpoint(document, "userinfo_endpoint", required=False),
            token_auth_methods=tuple(m for m in methods if isinstance(m, str))
            if isinstance(methods, list)
            else (),
            iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
            is True,
        )
        self._metadata, self._metadata_at = metadata, time.monotonic()
        return metadata

    # -- the authorization request ---------------------------------------------------------------

    async def begin(self, return_to: str) -> tuple[str, PendingLogin]:
        """The provider's authorization URL to send the browser to, and what to remember."""
        metadata = await self.metadata()
        pending = PendingLogin(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),
            return_to=return_to,
            created_at=int(self._clock()),
        )
        challenge = _b64url(hashlib.sha256(pending.code_verifier.encode()).digest())
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.provider.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": " ".join(self.provider.scopes),
                "state": pending.state,
                "nonce": pending.nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            quote_via=quote,
        )
        endpoint = metadata.authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", pending

    # -- the authorization response --------------------------------------------------------------

    def check_callback(
        self,
        items: Iterable[tuple[str, str]],
        pending: PendingLogin | None,
        metadata: ProviderMetadata,
    ) -> str:
        """The authorization code of a callback that answers ``pending``, or UpstreamError."""
        params: dict[str, str] = {}
        for key, value in items:
            if key in params:
                raise UpstreamError("repeated_parameter", f"The sign-in response repeats {key!r}.")
            params[key] = value
        if pending is None:
            raise UpstreamError(
                "no_pending_login",
                "This sign-in was not started in this browser, was already used, or has "
                "expired. Please start again.",
            )
        if pending.expired(self._clock()):
            raise UpstreamError("expired", "This sign-in took too long. Please start again.")
        state = params.get("state")
        if state is None or not _same(state, pending.state):
            raise UpstreamError(
                "state_mismatch",
                "This sign-in response does not belong to the sign-in started in this browser.",
            )
        iss = params.get("iss")
        if (iss is not None or metadata.iss_parameter_supported) and (
            iss is None or not _same(iss, self.provider.issuer)
        ):
            # RFC 9207 §2.4: the response came from another provider (mix-up) or lost its iss.
            raise UpstreamError(
                "issuer_mismatch",
                f"This sign-in response did not come from {self.provider.name}.",
            )
        error = params.get("error")
        if error is not None:
            shown = error if _ERROR_CODE.fullmatch(error) else "invalid error code"
            if error == "access_denied":
                raise UpstreamError(
                    "provider_denied", f"Sign-in was cancelled or refused at {self.provider.name}."
                )
            raise UpstreamError(
                "provider_error", f"{self.provider.name} could not sign you in ({shown})."
            )
        code = params.get("code")
        if not code or len(code) > _MAX_CODE:
            raise UpstreamError("no_code", "The sign-in response has no authorization code.")
        return code

    # -- the token request and the ID token ------------------------------------------------------

    def _client_auth(self, metadata: ProviderMetadata, form: dict[str, str]) -> dict[str, str]:
        secret = self.provider.client_secret
        if secret is None:
            form["client_id"] = self.provider.client_id
            return {}
        method = self.provider.token_auth_method
        if method is None:
            method = (
                "client_secret_post"
                if "client_secret_basic" not in metadata.token_auth_methods
                and "client_secret_post" in metadata.token_auth_methods
                else "client_secret_basic"
            )
        if method == "client_secret_post":
            form["client_id"] = self.provider.client_id
            form["client_secret"] = secret.get_secret_value()
            return {}
        # RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined.
        pair = (
            f"{quote(self.provider.client_id, safe='')}:{quote(secret.get_secret_value(), safe='')}"
        )
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    async def redeem(self, code: str, pending: PendingLogin) -> UpstreamIdentity:
        """Exchange ``code``, check the ID token, read userinfo, map the claims."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": pending.code_verifier,
        }
        headers = {"Accept": "application/json", **self._client_auth(metadata, form)}
        async with self._client() as client:
            tokens = await self._post_token(client, metadata, form, headers)
            id_token = tokens.get("id_token")
            if not isinstance(id_token, str):
                raise UpstreamError("no_id_token", f"{self.provider.name} sent no ID token.")
            claims = await self.verify_id_token(id_token, nonce=pending.nonce)
            access_token = tokens.get("access_token")
            token_type = tokens.get("token_type")
            if (
                self.provider.fetch_userinfo
                and metadata.userinfo_endpoint is not None
                and isinstance(access_token, str)
                and isinstance(token_type, str)
                and token_type.lower() == "bearer"
            ):
                userinfo = await self._userinfo(client, metadata.userinfo_endpoint, access_token)
                if userinfo.get("sub") != claims["sub"]:
                    # OIDC Core §5.3.4: userinfo about another subject is not used at all.
                    raise UpstreamError(
                        "userinfo_subject_mismatch",
                        f"{self.provider.name} described another account than the one that "
                        "signed in.",
                    )
                claims = {**userinfo, **claims}
        return replace(identity_from_claims(self.provider, claims), tokens=tokens)

    async def _post_token(
        self,
        client: httpx.AsyncClient,
        metadata: ProviderMetadata,
        form: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> dict[str, Any]:
        try:
            async with client.stream(
                "POST", metadata.token_endpoint, data=form, headers=headers
            ) as response:
                status = response.status_code
                body = await _read_json(response, "token")
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"{self.provider.name}'s token endpoint could not be reached ({type(exc).__name__})"
            ) from None
        if not isinstance(body, dict):
            raise ProviderUnavailable("the provider's token response is not a JSON object")
        if status != 200:
            error = body.get("error")
            shown = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else status
            if status in (400, 401):
                # invalid_grant: a code used twice, expired, or not issued for this flow.
                raise UpstreamError(
                    "token_error",
                    f"{self.provider.name} refused to complete the sign-in ({shown}). "
                    "Please start again.",
                )
            raise ProviderUnavailable(f"{self.provider.name}'s token endpoint failed ({shown})")
        return body

    async def _userinfo(
        self, client: httpx.AsyncClient, url: str, access_token: str
    ) -> dict[str, Any]:
        try:
            async with client.stream(
                "GET",
                url,
                headers={"Accept": "application/json", "Authorization": f"Bearer {access_token}"},
            ) as response:
                content_type = response.headers.get("content-type", "")
                if response.status_code != 200:
                    raise ProviderUnavailable(
                        f"{self.provider.name}'s userinfo endpoint answered HTTP "
                        f"{response.status_code}"
                    )
                if not content_type.startswith("application/json"):
                    raise ProviderUnavailable(
                        f"{self.provider.name}'s userinfo response is not plain JSON (signed or "
                        "encrypted userinfo is not supported)"
                    )
                body = await _read_json(response, "userinfo")
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"{self.provider.name}'s userinfo endpoint could not be reached "
                f"({type(exc).__name__})"
            ) from None
        if not isinstance(body, dict):
            raise ProviderUnavailable("the provider's userinfo response is not a JSON object")
        return body

    async def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The claims of an ID token issued for this sign-in (OIDC Core §3.1.3.7)."""

        def refuse(why: str) -> UpstreamError:
            return UpstreamError(
                "id_token_invalid", f"{self.provider.name} sent an ID token {why}."
            )

        try:
            compact = parse_compact(id_token)
        except TokenError:
            raise refuse("that is not a signed JWT") from None
        alg, kid, typ = (compact.header.get(k) for k in ("alg", "kid", "typ"))
        if not isinstance(alg, str) or alg not in self.provider.algorithms:
            raise refuse("signed with an algorithm that is not allowed")
        if typ is not None and (not isinstance(typ, str) or typ.lower() != "jwt"):
            raise refuse("of the wrong type")
        if not isinstance(kid, str):
            raise refuse("that does not name its key")
        try:
            key = await self._keys.key(kid, alg)
            claims = verify_compact(compact, {kid: key})
        except IssuerUnavailable as exc:
            raise ProviderUnavailable(str(exc)) from None
        except (UnauthenticatedError, TokenError):
            raise refuse("whose signature is not valid") from None
        now = self._clock()
        if claims.get("iss") != self.provider.issuer:
            raise refuse("from another issuer")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise refuse("without a valid subject")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.provider.client_id not in audiences:
            raise refuse("meant for another client")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != self.provider.client_id:
            raise refuse("authorized for another client")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not _is_number(exp) or not _is_number(iat):
            raise refuse("without valid exp and iat")
        if now >= exp + self._leeway:
            raise refuse("that has expired")
        if iat > now + self._leeway:
            raise refuse("issued in the future")
        nbf = claims.get("nbf", 0)
        if not _is_number(nbf):
            raise refuse("with an nbf that is not a number")
        if nbf > now + self._leeway:
            raise refuse("that is not valid yet (nbf)")
        got = claims.get("nonce")
        if not isinstance(got, str) or not _same(got, nonce):
            raise refuse("that was not issued for this sign-in")
        return claims


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
