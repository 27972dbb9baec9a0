"""URL rules shared by redirect URIs and issuer URLs (RFC 9700 §2.1, RFC 8252 §7.3)."""

from __future__ import annotations

__all__ = ["LOOPBACK_HOSTS", "url_problem"]

from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def url_problem(url: object) -> str | None:
    """Why ``url`` may not be used as an absolute https (or loopback http) URL, or ``None``."""
    if not isinstance(url, str) or not url:
        return "must be a non-empty string"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return f"{url!r} is not a valid URL"
    if not parts.scheme or not host:
        return f"{url!r} is not absolute (it needs a scheme and a host)"
    if parts.fragment or url.endswith("#"):
        return f"{url!r} must not contain a fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return None
    if parts.scheme == "http":
        return f"{url!r} must use https (plain http is allowed only for loopback hosts)"
    return f"{url!r} must use https"
