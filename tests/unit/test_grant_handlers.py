"""Grants are handlers registered in one place: the token endpoint serves, and discovery lists,
exactly the grant types config validation knows; a new grant is one handler class and one
registration, called through the endpoint like the built-in ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest

from authward.config.clients import GRANT_TYPES_SUPPORTED
from authward.oauth.clients import Client, ClientDirectory, secret_digest
from authward.oauth.errors import InvalidClient, UnauthorizedClient, UnsupportedGrantType
from authward.oauth.grant_handlers import (
    GRANT_HANDLERS,
    GrantHandlerFactory,
    Issuance,
    TokenRequest,
    TokenResponse,
    TokenTarget,
)
from authward.oauth.metadata import server_metadata
from authward.oauth.refresh_grant import RefreshPolicy
from authward.oauth.token import TokenEndpoint
from tests.fakes import MemoryAuditLog, MemoryGrantStore

TOY = "urn:example:params:oauth:grant-type:toy"
SECRET = "toy-secret"


class ToyGrant:
    """What a new grant module holds: its name and its handler over the shared issuance."""

    grant_type = TOY

    def __init__(self, issuance: Issuance) -> None:
        self._issuance = issuance

    async def handle(self, request: TokenRequest, client: Client) -> TokenResponse:
        return {
            "access_token": f"toy:{client.client_id}:{request.form['subject']}",
            "token_type": "Bearer",
            "expires_in": self._issuance.target.machine_user_lifetime,
        }


def client(client_id: str, *grant_types: str) -> Client:
    return Client(
        client_id=client_id,
        name=client_id,
        kind="oauth2_client",
        secret_sha256=secret_digest(SECRET),
        grant_types=grant_types,
    )


async def never(*_: Any) -> Any:
    raise AssertionError("the toy grant reads and writes nothing")


class Nobody:
    get = claims = verify = never


EndpointFor = Callable[[Iterable[GrantHandlerFactory]], TokenEndpoint]


@pytest.fixture
async def endpoint_for() -> AsyncIterator[EndpointFor]:
    directories: list[ClientDirectory] = []

    async def load() -> list[Client]:
        return [client("toy-client", TOY), client("other-client", "authorization_code")]

    def build(handlers: Iterable[GrantHandlerFactory]) -> TokenEndpoint:
        directories.append(ClientDirectory(load, refresh_seconds=3600))
        return TokenEndpoint(
            target=TokenTarget(
                issuer="https://auth.example",
                audience="https://auth.example",
                default_access_lifetime=3600,
                machine_user_lifetime=600,
                refresh_defaults=RefreshPolicy(3600, 86_400, 0),
            ),
            clients=directories[-1],
            grants=MemoryGrantStore(),
            signer=never,
            id_token_signer=never,
            users=Nobody(),
            dpop=Nobody(),
            audit=MemoryAuditLog(),
            revoke_family=never,
            revoke_access=never,
            handlers=handlers,
        )

    yield build
    for directory in directories:
        await directory.close()


def toy_request(client_id: str = "toy-client", secret: str = SECRET) -> TokenRequest:
    form = {"grant_type": TOY, "client_id": client_id, "client_secret": secret, "subject": "s1"}
    return TokenRequest(form=form, authorization=None, dpop=None, url="https://auth.example/t")


def test_the_registry_serves_exactly_the_grant_types_config_validation_knows() -> None:
    registered = [h.grant_type for h in GRANT_HANDLERS]
    assert registered == list(GRANT_TYPES_SUPPORTED)
    metadata = server_metadata("https://auth.example")
    assert metadata["grant_types_supported"] == list(GRANT_TYPES_SUPPORTED)


async def test_a_registered_toy_grant_is_called_through_the_endpoint(
    endpoint_for: EndpointFor,
) -> None:
    endpoint = endpoint_for((*GRANT_HANDLERS, ToyGrant))
    body = await endpoint.handle(toy_request())
    assert body == {"access_token": "toy:toy-client:s1", "token_type": "Bearer", "expires_in": 600}


async def test_the_endpoint_still_authenticates_and_authorizes_the_client_for_a_new_grant(
    endpoint_for: EndpointFor,
) -> None:
    endpoint = endpoint_for((*GRANT_HANDLERS, ToyGrant))
    with pytest.raises(InvalidClient):
        await endpoint.handle(toy_request(secret="wrong"))
    with pytest.raises(UnauthorizedClient, match=f"may not use the {TOY} grant"):
        await endpoint.handle(toy_request("other-client"))


async def test_an_unregistered_grant_is_unsupported(endpoint_for: EndpointFor) -> None:
    with pytest.raises(UnsupportedGrantType) as refused:
        await endpoint_for(GRANT_HANDLERS).handle(toy_request())
    assert refused.value.description == (
        "grant_type must be one of authorization_code, refresh_token, client_credentials"
    )
