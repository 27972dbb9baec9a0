"""``define_auth(resource_servers=...)``: the resource servers tokens may be issued for (RFC 8707).

    resource_servers={
        "mcp": {"url": "/mcp", "scopes": ["tools:read", "tools:admin"]},
        "reports": {"url": "https://reports.example.com/api", "require_dpop": True},
    }

A ``url`` is the resource's identifier (RFC 8707 §2): an absolute https URL (plain http only for a
loopback host) with no fragment and no query, or a path such as ``/mcp``, which names a resource
on the authorization server's own origin (the issuer's scheme and host, so a server on another
port follows). Declared scopes belong to that resource alone: they are granted only with it.
"""

from __future__ import annotations

__all__ = [
    "AS_SCOPES",
    "ResourceServer",
    "ResourceServerSpec",
    "parse_resource_servers",
    "resolve_resource_url",
]

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Required, TypedDict
from urllib.parse import urlsplit

from authward.config.clients import ACCESS_LIFETIME_RANGE
from authward.config.issues import NAME, Issues
from authward.config.urls import url_problem

#: The authorization server's own scopes (oauth/scopes.py, above this layer; a test keeps them
#: equal): a resource may not declare them.
AS_SCOPES: tuple[str, ...] = ("openid", "profile", "email", "offline_access")
#: RFC 6749 §3.3 scope-token, kept to a sane length.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}\Z")
_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*\Z")


class ResourceServerSpec(TypedDict, total=False):
    url: Required[str]
    #: The scopes tokens for this resource may carry (``scopes_supported`` in its metadata).
    scopes: Sequence[str]
    #: Lifetime of the access tokens issued for this resource (else the client's or default).
    access_token_lifetime_seconds: int
    #: Only DPoP-bound tokens (RFC 9449) are issued for this resource and accepted by it.
    require_dpop: bool
    #: A name people read (RFC 9728 ``resource_name``); the key by default.
    resource_name: str


@dataclass(frozen=True, slots=True)
class ResourceServer:
    name: str
    #: As declared: an absolute URL, or a path on the issuer's origin (see
    #: :func:`resolve_resource_url`).
    url: str
    scopes: tuple[str, ...]
    access_token_lifetime_seconds: int | None
    require_dpop: bool
    resource_name: str


def resolve_resource_url(url: str, issuer: str) -> str:
    """The resource identifier of a declared ``url``: itself when absolute, else the path on
    the issuer's scheme and host (``/mcp`` with issuer ``http://127.0.0.1:8000`` is
    ``http://127.0.0.1:8000/mcp``)."""
    if not url.startswith("/"):
        return url
    parts = urlsplit(issuer)
    return f"{parts.scheme}://{parts.netloc}{url}"


def _url_problem(url: object) -> str | None:
    if isinstance(url, str) and url.startswith("/"):
        if url.startswith("//") or not _PATH.match(url):
            return f"{url!r} is not a path (use '/mcp', or an absolute https URL)"
        return None
    problem = url_problem(url)
    if problem is None and isinstance(url, str) and (urlsplit(url).query or "?" in url):
        # RFC 8707 §2: the resource SHOULD NOT include a query; we keep identifiers exact.
        return f"{url!r} must not contain a query"
    return problem


def parse_resource_servers(spec: object, issues: Issues) -> dict[str, ResourceServer]:
    if not isinstance(spec, Mapping):
        issues.add("resource_servers", "expected {name: {url: ..., scopes: [...]}, ...}")
        return {}
    out: dict[str, ResourceServer] = {}
    seen: dict[str, str] = {}
    allowed = list(ResourceServerSpec.__annotations__)
    for name, r in spec.items():
        path = f"resource_servers[{name!r}]"
        if not isinstance(name, str) or not NAME.fullmatch(name):
            issues.add(path, "names use lower-case letters, digits, '-' and '_'")
            continue
        if not isinstance(r, Mapping):
            issues.add(path, "expected {url: ..., scopes: [...]}")
            continue
        issues.unknown_keys(path, r, allowed)
        url = r.get("url")
        problem = "required: the resource's URL" if url is None else _url_problem(url)
        if problem:
            issues.add(f"{path}.url", problem)
            continue
        assert isinstance(url, str)
        if url in seen:
            issues.add(f"{path}.url", f"is also the URL of resource_servers[{seen[url]!r}]")
            continue
        seen[url] = name
        scopes = _scopes(f"{path}.scopes", r.get("scopes", ()), issues)
        lifetime = r.get("access_token_lifetime_seconds")
        low, high = ACCESS_LIFETIME_RANGE
        if lifetime is not None and (
            isinstance(lifetime, bool)
            or not isinstance(lifetime, int)
            or not low <= lifetime <= high
        ):
            issues.add(
                f"{path}.access_token_lifetime_seconds",
                f"must be a whole number of seconds between {low} and {high}",
            )
            lifetime = None
        require_dpop = r.get("require_dpop", False)
        if not isinstance(require_dpop, bool):
            issues.add(f"{path}.require_dpop", "expected True or False")
            require_dpop = False
        label = r.get("resource_name", name)
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            issues.add(f"{path}.resource_name", "expected a non-empty string (200 characters)")
            label = name
        out[name] = ResourceServer(
            name=name,
            url=url,
            scopes=scopes,
            access_token_lifetime_seconds=lifetime,
            require_dpop=require_dpop,
            resource_name=label,
        )
    return out


def _scopes(path: str, value: object, issues: Issues) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        issues.add(path, "expected a list of scope names")
        return ()
    out: list[str] = []
    for i, scope in enumerate(value):
        if not isinstance(scope, str) or not _SCOPE_TOKEN.match(scope):
            issues.add(f"{path}[{i}]", f"{scope!r} is not a scope (RFC 6749 §3.3, no spaces)")
        elif scope in AS_SCOPES:
            issues.add(
                f"{path}[{i}]",
                f"{scope!r} is one of the authorization server's own scopes "
                f"({', '.join(AS_SCOPES)}); a resource declares its own",
            )
        elif scope in out:
            issues.add(f"{path}[{i}]", f"{scope!r} is listed twice")
        else:
            out.append(scope)
    return tuple(out)
