"""Client metadata of a registration request (RFC 7591 §2), validated (decision 049).

- ``redirect_uris``: required, absolute, no fragment, compared later as exact strings. ``web``
  clients (the default ``application_type``) use https, or http on a loopback host; ``native``
  clients (RFC 8252) use http on a loopback host (§7.3), a private-use scheme in reverse domain
  notation (§7.1: ``com.example.app:/cb``), or https (§7.2). Anything else is
  ``invalid_redirect_uri``.
- ``token_endpoint_auth_method``: ``none`` (a public client, which PKCE protects) or, when the
  app allows confidential clients, ``client_secret_basic`` (RFC 7591's default) or
  ``client_secret_post``.
- ``grant_types`` (default ``authorization_code``) among ``authorization_code`` and
  ``refresh_token``; ``response_types`` (default ``code``) only ``code``; each consistent with
  the other (§2.1).
- ``client_name``, ``client_uri``, ``logo_uri`` and ``scope`` are kept as given once checked.
  Scopes are checked for their syntax only: the authorization endpoint decides what is granted.

Unrecognised fields are ignored (§2). Everything else wrong is ``invalid_client_metadata``.
"""

from __future__ import annotations

__all__ = ["APPLICATION_TYPES", "AUTH_METHODS", "ClientMetadata", "client_metadata"]

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from authward.config.clients import GRANT_TYPES
from authward.config.urls import LOOPBACK_HOSTS, url_problem
from authward.oauth.errors import InvalidClientMetadata, InvalidRedirectUri

AUTH_METHODS: Final = ("none", "client_secret_basic", "client_secret_post")
APPLICATION_TYPES: Final = ("web", "native")
MAX_REDIRECT_URIS = 10
MAX_URI_CHARS = 2048
MAX_NAME_CHARS = 200
MAX_SCOPE_CHARS = 1024
#: RFC 6749 §3.3 scope-token characters.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+\Z")
#: RFC 8252 §7.1: a private-use scheme is a reverse domain name (it holds a dot).
_PRIVATE_SCHEME = re.compile(r"[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str
    application_type: str
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    client_name: str | None
    client_uri: str | None
    logo_uri: str | None
    scope: str | None

    @property
    def public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name


def _strings(body: Mapping[str, object], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidClientMetadata(f"{name} must be an array of strings")
    if not all(isinstance(v, str) for v in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings")
    return tuple(dict.fromkeys(str(v) for v in value))


def _text(body: Mapping[str, object], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidClientMetadata(f"{name} must be a non-empty string")
    if len(value) > limit or _CONTROL.search(value):
        raise InvalidClientMetadata(f"{name} must be at most {limit} printable characters")
    return value


def _web_uri(body: Mapping[str, object], name: str) -> str | None:
    value = _text(body, name, MAX_URI_CHARS)
    if value is not None and (problem := url_problem(value)) is not None:
        raise InvalidClientMetadata(f"{name}: {problem}")
    return value


def _redirect_problem(uri: str, application_type: str) -> str | None:
    if len(uri) > MAX_URI_CHARS or _CONTROL.search(uri):
        return f"redirect URIs are at most {MAX_URI_CHARS} printable characters"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return f"{uri!r} is not a valid URL"
    scheme = parts.scheme
    if application_type == "native" and scheme not in ("http", "https"):
        if not _PRIVATE_SCHEME.fullmatch(scheme):
            return (
                f"{uri!r}: a native client's private-use scheme is a reverse domain name "
                "such as com.example.app (RFC 8252 §7.1)"
            )
        if parts.fragment or uri.endswith("#"):
            return f"{uri!r} must not contain a fragment"
        return None
    problem = url_problem(uri)
    if problem is not None:
        return problem
    if application_type == "native" and scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return f"{uri!r}: http is for loopback hosts only"
    return None


def _redirect_uris(body: Mapping[str, object], application_type: str) -> tuple[str, ...]:
    value = body.get("redirect_uris")
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise InvalidRedirectUri("redirect_uris must be a non-empty array of URLs")
    if len(value) > MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"at most {MAX_REDIRECT_URIS} redirect URIs")
    uris: list[str] = []
    for uri in value:
        if not isinstance(uri, str):
            raise InvalidRedirectUri("redirect_uris must be an array of strings")
        problem = _redirect_problem(uri, application_type)
        if problem is not None:
            raise InvalidRedirectUri(problem)
        if uri not in uris:
            uris.append(uri)
    return tuple(uris)


def _scope(body: Mapping[str, object]) -> str | None:
    value = _text(body, "scope", MAX_SCOPE_CHARS)
    if value is None:
        return None
    tokens = value.split(" ")
    if not all(_SCOPE_TOKEN.match(t) for t in tokens):
        raise InvalidClientMetadata("scope is a list of scope tokens separated by single spaces")
    return " ".join(dict.fromkeys(tokens))


def client_metadata(body: object, *, confidential_allowed: bool) -> ClientMetadata:
    """The registration request's metadata, or :class:`InvalidClientMetadata` /
    :class:`InvalidRedirectUri`."""
    if not isinstance(body, Mapping):
        raise InvalidClientMetadata("the request body must be a JSON object")
    application_type = body.get("application_type", "web")
    if application_type not in APPLICATION_TYPES:
        raise InvalidClientMetadata("application_type must be web or native")
    assert isinstance(application_type, str)
    method = body.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise InvalidClientMetadata(
            f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}"
        )
    assert isinstance(method, str)
    if method != "none" and not confidential_allowed:
        raise InvalidClientMetadata(
            "only public clients may register here: use token_endpoint_auth_method none (with PKCE)"
        )
    grant_types = _strings(body, "grant_types", ("authorization_code",))
    unsupported = [g for g in grant_types if g not in GRANT_TYPES]
    if unsupported or not grant_types:
        raise InvalidClientMetadata(
            f"grant_types may hold only {', '.join(GRANT_TYPES)}"
            + (f" ({unsupported[0]!r} is not supported)" if unsupported else "")
        )
    if "authorization_code" not in grant_types:
        raise InvalidClientMetadata("refresh_token needs authorization_code")
    response_types = _strings(body, "response_types", ("code",))
    if response_types != ("code",):
        raise InvalidClientMetadata("response_types may hold only code")
    return ClientMetadata(
        redirect_uris=_redirect_uris(body, application_type),
        token_endpoint_auth_method=method,
        application_type=application_type,
        grant_types=tuple(g for g in GRANT_TYPES if g in grant_types),
        response_types=response_types,
        client_name=_text(body, "client_name", MAX_NAME_CHARS),
        client_uri=_web_uri(body, "client_uri"),
        logo_uri=_web_uri(body, "logo_uri"),
        scope=_scope(body),
    )
