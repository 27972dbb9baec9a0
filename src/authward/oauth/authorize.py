"""Authorization requests (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), validated without a web framework.

:func:`parse_authorization_request` takes the request's parameters as ``(name, value)`` pairs and
the registered client, and returns an :class:`AuthorizationRequest` or raises
:class:`AuthorizationError`. The error says where it may be sent:

- ``redirect_uri is None``: the client or its redirect URI could not be trusted (unknown client,
  missing or unregistered ``redirect_uri``, or either given twice). RFC 6749 §4.1.2.1: the server
  MUST NOT redirect then; it shows the error to the user instead.
- otherwise the error goes back to the client's redirect URI (:func:`error_response_uri`), with
  ``state`` and ``iss``.

Rules enforced, with their source:

- RFC 9700 §2.1 / §4.1.3: redirect URIs match a registered one exactly (string comparison).
- RFC 6749 §3.1: a parameter MUST NOT appear twice; unknown parameters are ignored; a parameter
  without a value is treated as omitted.
- RFC 9700 §2.1.1 and RFC 7636 §4.3: PKCE with ``S256`` is required; ``plain`` (also the default
  when no method is given) is refused.
- RFC 9700 §2.1.2: only ``response_type=code`` (no implicit grant); ``response_mode`` is ``query``.
- OIDC Core §3.1.2.1: ``prompt`` (``none`` alone), ``max_age`` (seconds), ``nonce``,
  ``login_hint``; ``request`` / ``request_uri`` are not supported (§6).
- RFC 9449 §10: ``dpop_jkt`` is a JWK SHA-256 thumbprint.
- RFC 8707 §2: ``resource`` names a declared resource server (one per request), else
  ``invalid_target``; the resource's own scopes are valid only with it.
"""

from __future__ import annotations

__all__ = [
    "MAX_PARAMETER_CHARS",
    "AuthorizationError",
    "AuthorizationRequest",
    "RegisteredClient",
    "RequestNotSupported",
    "RequestUriNotSupported",
    "add_query",
    "error_response_uri",
    "parse_authorization_request",
    "success_response_uri",
]

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from authward.errors import AuthwardError
from authward.oauth.errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from authward.oauth.resources import Resource, Resources, scopes_for
from authward.oauth.scopes import OFFLINE_ACCESS

#: Longest value accepted for any parameter (a redirect URI, a state, a nonce...).
MAX_PARAMETER_CHARS = 2048
#: Most parameters accepted in one request (unknown ones included).
MAX_PARAMETERS = 64
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})
#: base64url without padding of 32 bytes (a SHA-256 digest): S256 challenges and JWK thumbprints.
_SHA256_B64 = re.compile(r"[A-Za-z0-9_-]{43}\Z")
_MAX_AGE = re.compile(r"[0-9]{1,10}\Z")


class RegisteredClient(Protocol):
    """What the authorization endpoint reads of a client (a ``StoredClient`` fits)."""

    @property
    def client_id(self) -> str: ...

    @property
    def redirect_uris(self) -> tuple[str, ...]: ...

    @property
    def grant_types(self) -> tuple[str, ...]: ...


class RequestNotSupported(OAuthError):
    code = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    code = "request_uri_not_supported"


class AuthorizationError(AuthwardError):
    """``error`` for the client at ``redirect_uri``, or for the user when that is ``None``."""

    def __init__(
        self, error: OAuthError, *, redirect_uri: str | None = None, state: str | None = None
    ) -> None:
        super().__init__(error.description)
        self.code = error.code
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str
    nonce: str | None
    #: Any of none, login, consent, select_account (``none`` only alone).
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str | None
    dpop_jkt: str | None
    #: The resource server the grant is for (RFC 8707), if the request named one.
    resource: Resource | None = None

    @property
    def forces_login(self) -> bool:
        # select_account: we keep one account per browser, so choosing one means signing in.
        return bool(self.prompt & {"login", "select_account"})


def _single_values(
    params: Iterable[tuple[str, str]],
) -> tuple[dict[str, str], set[str], list[str]]:
    """Non-empty values by name, names given more than once, and names whose value is too long."""
    values: dict[str, str] = {}
    seen: set[str] = set()
    repeated: set[str] = set()
    too_long: list[str] = []
    for count, (name, value) in enumerate(params, 1):
        if count > MAX_PARAMETERS:
            raise AuthorizationError(
                InvalidRequest(f"too many parameters (at most {MAX_PARAMETERS})")
            )
        if name in seen:
            repeated.add(name)
        seen.add(name)
        if len(value) > MAX_PARAMETER_CHARS:
            too_long.append(name)
        elif value:
            values[name] = value
    return values, repeated, too_long


def parse_authorization_request(
    params: Sequence[tuple[str, str]],
    find_client: Callable[[str], RegisteredClient | None],
    resources: Resources | None = None,
) -> tuple[AuthorizationRequest, RegisteredClient]:
    """Validate an authorization request; see the module docstring for what is refused how."""
    values, repeated, too_long = _single_values(params)
    for name in ("client_id", "redirect_uri"):
        if name in repeated:
            raise AuthorizationError(InvalidRequest(f"{name} is given more than once"))
        if name in too_long:
            raise AuthorizationError(InvalidRequest(f"{name} is too long"))
    client_id = values.get("client_id")
    if client_id is None:
        raise AuthorizationError(InvalidRequest("client_id is missing"))
    client = find_client(client_id)
    if client is None:
        raise AuthorizationError(InvalidRequest("unknown client_id"))
    redirect_uri = values.get("redirect_uri")
    if redirect_uri is None:
        # OIDC Core §3.1.2.1 makes it required, so there is no "the only registered URI" default.
        raise AuthorizationError(InvalidRequest("redirect_uri is missing"))
    if redirect_uri not in client.redirect_uris:
        raise AuthorizationError(
            InvalidRequest("redirect_uri is not one of the client's registered redirect URIs")
        )

    # From here on the redirect URI is trusted: errors go back to the client.
    state = values.get("state") if "state" not in repeated and "state" not in too_long else None

    def fail(error: OAuthError) -> AuthorizationError:
        return AuthorizationError(error, redirect_uri=redirect_uri, state=state)

    if "resource" in repeated:
        raise fail(InvalidTarget("this server issues tokens for one resource per request"))
    if repeated:
        raise fail(InvalidRequest(f"{', '.join(sorted(repeated))} given more than once"))
    if too_long:
        raise fail(
            InvalidRequest(
                f"{', '.join(sorted(too_long))} longer than {MAX_PARAMETER_CHARS} characters"
            )
        )
    response_type = values.get("response_type")
    if response_type is None:
        raise fail(InvalidRequest("response_type is missing"))
    if response_type != "code":
        raise fail(UnsupportedResponseType("only response_type=code is supported"))
    if values.get("response_mode", "query") != "query":
        raise fail(InvalidRequest("only response_mode=query is supported"))
    if "request" in values:
        raise fail(RequestNotSupported("request objects are not supported"))
    if "request_uri" in values:
        raise fail(RequestUriNotSupported("request_uri is not supported"))
    if "authorization_code" not in client.grant_types:
        raise fail(UnauthorizedClient("this client may not use the authorization code grant"))

    challenge = values.get("code_challenge")
    method = values.get("code_challenge_method")
    if challenge is None:
        raise fail(InvalidRequest("code_challenge is required (PKCE, RFC 7636)"))
    if method != "S256":
        raise fail(InvalidRequest("code_challenge_method must be S256 (plain is not allowed)"))
    if not _SHA256_B64.match(challenge):
        raise fail(InvalidRequest("code_challenge must be 43 base64url characters (S256)"))

    try:
        resource = (resources or Resources((), "")).requested(values.get("resource"))
        scopes = scopes_for(values.get("scope"), resource)
    except (InvalidTarget, InvalidScope) as exc:
        raise fail(exc) from None
    if OFFLINE_ACCESS in scopes and "refresh_token" not in client.grant_types:
        raise fail(InvalidScope("offline_access needs a client allowed the refresh_token grant"))

    prompt = frozenset(values.get("prompt", "").split())
    unknown = prompt - PROMPT_VALUES
    if unknown:
        raise fail(InvalidRequest(f"unknown prompt value {sorted(unknown)[0]!r}"))
    if "none" in prompt and len(prompt) > 1:
        raise fail(InvalidRequest("prompt=none cannot be combined with other values"))

    max_age: int | None = None
    if "max_age" in values:
        if not _MAX_AGE.match(values["max_age"]):
            raise fail(InvalidRequest("max_age must be a number of seconds"))
        max_age = int(values["max_age"])

    dpop_jkt = values.get("dpop_jkt")
    if dpop_jkt is not None and not _SHA256_B64.match(dpop_jkt):
        raise fail(InvalidRequest("dpop_jkt must be a JWK SHA-256 thumbprint (RFC 9449 §10)"))

    request = AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state,
        code_challenge=challenge,
        nonce=values.get("nonce"),
        prompt=prompt,
        max_age=max_age,
        login_hint=values.get("login_hint"),
        dpop_jkt=dpop_jkt,
        resource=resource,
    )
    return request, client


def add_query(uri: str, params: Mapping[str, str | None]) -> str:
    """``uri`` with ``params`` (``None`` values left out) appended to its query."""
    # RFC 6749 §3.1.2: the registered URI's own query is kept, ours is appended.
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def success_response_uri(redirect_uri: str, *, code: str, state: str | None, issuer: str) -> str:
    """RFC 6749 §4.1.2 with RFC 9207's ``iss``."""
    return add_query(redirect_uri, {"code": code, "state": state, "iss": issuer})


def error_response_uri(
    redirect_uri: str, error: OAuthError, *, state: str | None, issuer: str
) -> str:
    """RFC 6749 §4.1.2.1 with RFC 9207's ``iss``."""
    return add_query(
        redirect_uri,
        {
            "error": error.code,
            "error_description": error.description,
            "state": state,
            "iss": issuer,
        },
    )
