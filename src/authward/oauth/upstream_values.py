"""The values of a sign-in through an external identity provider (``oauth/upstream.py``): the
pending login kept between redirect and callback, the upstream identity mapped for the local
user store, and the refusals."""

from __future__ import annotations

__all__ = [
    "PENDING_LIFETIME_SECONDS",
    "PendingLogin",
    "ProviderMetadata",
    "ProviderUnavailable",
    "UpstreamError",
    "UpstreamIdentity",
    "identity_from_claims",
    "safe_return_to",
]

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authward.config.idp import IdProvider
from authward.errors import AuthwardError

#: How long a started sign-in may take at the provider.
PENDING_LIFETIME_SECONDS = 600
_MAX_RETURN_TO = 2048


class UpstreamError(AuthwardError):
    """An external sign-in was refused. ``reason`` is stable; ``str()`` is for the person."""

    code = "external_login_failed"

    def __init__(self, reason: str, message: str, *, status: int = 400) -> None:
        self.reason = reason
        self.status = status
        super().__init__(message)


class ProviderUnavailable(UpstreamError):
    """The provider could not be reached or answered nonsense: our problem, not the user's."""

    def __init__(self, message: str) -> None:
        super().__init__("provider_unavailable", message, status=502)


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None
    token_auth_methods: tuple[str, ...]
    #: ``authorization_response_iss_parameter_supported`` (RFC 9207 §3)
    iss_parameter_supported: bool


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """What the callback needs to finish a sign-in; secret, so kept sealed or server-side."""

    state: str
    nonce: str
    code_verifier: str
    return_to: str
    created_at: int

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PendingLogin | None:
        try:
            raw = json.loads(data)
            pending = cls(**raw)
        except (ValueError, TypeError):
            return None
        strings = (pending.state, pending.nonce, pending.code_verifier, pending.return_to)
        if not all(isinstance(s, str) for s in strings) or not isinstance(pending.created_at, int):
            return None
        return pending

    def expired(self, now: float) -> bool:
        return not self.created_at <= now < self.created_at + PENDING_LIFETIME_SECONDS


@dataclass(frozen=True, slots=True)
class UpstreamIdentity:
    """A signed-in upstream account, mapped for the local user store."""

    provider: str
    subject: str
    username: str
    email: str | None
    email_verified: bool
    #: Profile fields from ``IdProvider.claims``.
    profile: Mapping[str, Any]
    #: The token response (access and refresh tokens), kept in the vault when the app declares
    #: ``connection.from_id_provider`` (docs/connected-accounts.md); never logged.
    tokens: Mapping[str, Any] = field(default_factory=dict, repr=False)


def safe_return_to(value: str) -> str | None:
    """``value`` when it is a path on this server, else ``None`` (never an open redirect).

    A relative reference starting with one ``/``: not ``//host`` or ``/\\host`` (browsers read a
    backslash as a slash), and no whitespace or control characters, which URL parsers drop (so
    ``/\\t/host`` would become ``//host``).
    """
    if not value.startswith("/") or len(value) > _MAX_RETURN_TO:
        return None
    if "\\" in value or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return None
    if value.startswith("//"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def identity_from_claims(provider: IdProvider, claims: Mapping[str, Any]) -> UpstreamIdentity:
    """Map verified upstream claims onto a local username and profile (``IdProvider.claims``)."""
    username = claims.get(provider.username_claim)
    if not isinstance(username, str) or not username.strip():
        raise UpstreamError(
            "no_username",
            f"{provider.name} did not share your {provider.username_claim!r}, which this "
            "service needs to sign you in.",
        )
    email = claims.get("email")
    profile = {
        target: claims[claim]
        for claim, target in provider.claims.items()
        if claims.get(claim) is not None
    }
    return UpstreamIdentity(
        provider=provider.name,
        subject=str(claims["sub"]),
        username=username,
        email=email if isinstance(email, str) else None,
        # Only a JSON true: some providers send "false" as a string.
        email_verified=claims.get("email_verified") is True,
        profile=profile,
    )
