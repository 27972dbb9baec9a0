"""The pure rules of client ID metadata documents (decision 048): which addresses are public,
which client_id URLs are well formed, what a document must say, how long it is kept."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from authward.errors import SettingsError
from authward.oauth.client_metadata import (
    DEFAULT_CACHE_SECONDS,
    MAX_CACHE_SECONDS,
    MIN_CACHE_SECONDS,
    cache_seconds,
    check_client_id_url,
    validate_document,
)
from authward.oauth.errors import InvalidClient
from authward.oauth.metadata import server_metadata
from authward.oauth.public_fetch import is_public_address
from authward.settings import load_settings

URL = "https://app.example/oauth/client.json"


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address checked, not bound
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fd12::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "2001:db8::1",
    ],
)
def test_special_use_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "8.8.8.8"])
def test_global_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_the_development_setting_lets_only_loopback_through() -> None:
    assert is_public_address(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    assert is_public_address(ipaddress.ip_address("::1"), allow_loopback=True)
    assert not is_public_address(ipaddress.ip_address("10.0.0.1"), allow_loopback=True)
    assert not is_public_address(ipaddress.ip_address("169.254.1.1"), allow_loopback=True)


@pytest.mark.parametrize(
    "client_id",
    [
        "https://app.example/",
        "https://app.example",
        "https://app.example/a#b",
        "https://u:p@app.example/c.json",
        "https://app.example/./c.json",
        "https://app.example/a/%2E%2E/c.json",
        "https://app.example/c json",
        "https://app.example:99999/c.json",
        "https://app.example/ü",
    ],
)
def test_malformed_client_id_urls_are_refused(client_id: str) -> None:
    with pytest.raises(InvalidClient):
        check_client_id_url(client_id)


def test_a_port_and_a_query_are_allowed() -> None:
    check_client_id_url("https://app.example:8443/c.json?v=2")


def _doc(**overrides: Any) -> bytes:
    doc: dict[str, Any] = {"client_id": URL, "redirect_uris": ["https://app.example/cb"]}
    doc.update(overrides)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def test_a_minimal_document_is_a_public_authorization_code_client() -> None:
    found = validate_document(URL, _doc())
    assert found.name == "app.example"
    assert found.grant_types == ("authorization_code",)
    client = found.as_client()
    assert client.public
    assert client.redirect_uris == ("https://app.example/cb",)
    assert client.require_dpop is False


def test_only_the_grants_a_public_client_can_use_are_kept() -> None:
    found = validate_document(
        URL, _doc(grant_types=["client_credentials", "refresh_token", "authorization_code"])
    )
    assert found.grant_types == ("authorization_code", "refresh_token")


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:8123/cb", "http://[::1]/cb", "com.example.app:/oauth"]
)
def test_loopback_and_native_redirect_uris_are_accepted(uri: str) -> None:
    assert validate_document(URL, _doc(redirect_uris=[uri])).redirect_uris == (uri,)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_doc(client_id=URL + "?x"), "client_id is not the URL"),
        (_doc(client_id=None), "client_id is not the URL"),
        (b"[1, 2]", "not a JSON object"),
        (b"\xff\xfe", "not JSON"),
        (_doc(redirect_uris="https://app.example/cb"), "non-empty list"),
        (_doc(redirect_uris=["http://app.example/cb"]), "a redirect URI must be https"),
        (_doc(redirect_uris=["https://app.example/cb#x"]), "fragment"),
        (_doc(redirect_uris=["data:text/html,x"]), "a redirect URI must be https"),
        (_doc(token_endpoint_auth_method="client_secret_post"), "shared secret"),
        (_doc(token_endpoint_auth_method="client_secret_jwt"), "shared secret"),
        (_doc(token_endpoint_auth_method="private_key_jwt"), "not supported yet"),
        (_doc(token_endpoint_auth_method="tls_client_auth"), "must be none"),
        (_doc(client_secret_expires_at=0), "client_secret"),
        (_doc(jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}), "private key material"),
        (_doc(client_uri="javascript:alert(1)"), "client_uri must be an https URL"),
        (_doc(logo_uri="http://cdn.example/l.png"), "logo_uri must be an https URL"),
        (_doc(client_name=["a"]), "client_name must be text"),
        (_doc(grant_types="authorization_code"), "grant_types must be a list"),
    ],
)
def test_hostile_documents_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidClient, match=reason):
        validate_document(URL, body)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, DEFAULT_CACHE_SECONDS),
        ("public", DEFAULT_CACHE_SECONDS),
        ("max-age=3600", 3600.0),
        ("public, max-age=0", MIN_CACHE_SECONDS),
        ("max-age=31536000, immutable", MAX_CACHE_SECONDS),
        ('max-age="120"', 120.0),
        ("no-store", 0.0),
        ("max-age=600, no-cache", 0.0),
        ("private, No-Store", 0.0),
        ("s-maxage=10", DEFAULT_CACHE_SECONDS),
    ],
)
def test_cache_lifetime_follows_cache_control_within_bounds(
    header: str | None, seconds: float
) -> None:
    assert cache_seconds(header) == seconds


def test_discovery_advertises_exactly_what_is_enabled() -> None:
    issuer = "https://as.example"
    on = server_metadata(issuer, client_id_metadata_documents=True)
    assert on["client_id_metadata_document_supported"] is True
    assert "none" in on["token_endpoint_auth_methods_supported"]
    assert server_metadata(issuer)["client_id_metadata_document_supported"] is False


def test_a_ca_bundle_that_is_not_one_fails_at_load_naming_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(SettingsError, match="CLIENT_METADATA_CA_BUNDLE"):
        load_settings(client_metadata_ca_bundle=missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(SettingsError, match="CLIENT_METADATA_CA_BUNDLE"):
        load_settings(client_metadata_ca_bundle=garbage)
