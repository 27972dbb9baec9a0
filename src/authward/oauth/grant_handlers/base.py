"""What a grant handler is given and must answer: the token request, the instance's token
target, and the :class:`GrantHandler` protocol the token endpoint dispatches on."""

from __future__ import annotations

__all__ = [
    "GrantHandler",
    "ProofChecker",
    "TokenRequest",
    "TokenResponse",
    "TokenTarget",
    "UserDirectory",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from authward.oauth import refresh_grant
from authward.oauth.clients import Client
from authward.oauth.dpop import DpopProof
from authward.oauth.resources import Resources

#: The RFC 6749 §5.1 response body.
TokenResponse = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenRequest:
    form: Mapping[str, str]
    #: The ``Authorization`` header (client_secret_basic), if any.
    authorization: str | None
    #: The request's one ``DPoP`` header (see ``single_dpop_header``), if any.
    dpop: str | None
    #: This endpoint's URL as the client addressed it: what a DPoP proof's ``htu`` must name.
    url: str
    ip: str | None = None


class UserDirectory(Protocol):
    async def get(self, user_id: str) -> Any: ...

    async def claims(self, user_id: str) -> Any: ...


class ProofChecker(Protocol):
    async def verify(self, proof: str | None, *, method: str, url: str) -> DpopProof: ...


@dataclass(frozen=True, slots=True)
class TokenTarget:
    """Where tokens are issued: the instance's names and lifetimes."""

    issuer: str
    audience: str
    default_access_lifetime: int
    machine_user_lifetime: int
    #: Refresh-token lifetimes and grace for clients that set none of their own.
    refresh_defaults: refresh_grant.RefreshPolicy
    #: The resource servers tokens may be issued for (RFC 8707); none by default.
    resources: Resources = field(default_factory=lambda: Resources((), ""))


class GrantHandler(Protocol):
    """One grant type at the token endpoint. It is called once the client is authenticated and
    allowed the grant, and checks the request's DPoP proof itself (grants differ in what they
    refuse before it)."""

    @property
    def grant_type(self) -> str: ...

    async def handle(self, request: TokenRequest, client: Client) -> TokenResponse: ...
