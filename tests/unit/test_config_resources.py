"""``define_auth(resource_servers=...)`` refuses every mistake at load time, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from authward import define_auth
from authward.config.resources import AS_SCOPES, resolve_resource_url
from authward.errors import ConfigError
from authward.oauth.scopes import SUPPORTED_SCOPES


def _problems(spec: Any) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        define_auth("a", resource_servers=spec)
    return [str(i) for i in refused.value.issues]


def test_a_valid_declaration() -> None:
    auth = define_auth(
        "a",
        resource_servers={
            "mcp": {"url": "/mcp", "scopes": ["tools:read"]},
            "api": {
                "url": "https://api.example.com/v1",
                "require_dpop": True,
                "access_token_lifetime_seconds": 300,
                "resource_name": "The API",
            },
            "dev": {"url": "http://127.0.0.1:9000/"},
        },
    )
    api = auth.resource_servers["api"]
    assert (api.require_dpop, api.access_token_lifetime_seconds) == (True, 300)
    assert auth.resource_servers["mcp"].resource_name == "mcp"
    assert resolve_resource_url("/mcp", "http://127.0.0.1:8123") == "http://127.0.0.1:8123/mcp"
    assert resolve_resource_url(api.url, "http://x") == api.url


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"r": {}}, "resource_servers['r'].url: required"),
        ({"r": {"url": "http://api.example.com"}}, "resource_servers['r'].url: 'http://api"),
        ({"r": {"url": "https://api.example.com/#x"}}, "must not contain a fragment"),
        ({"r": {"url": "https://api.example.com/?a=1"}}, "must not contain a query"),
        ({"r": {"url": "mcp"}}, "resource_servers['r'].url"),
        ({"r": {"url": "//evil.example/x"}}, "is not a path"),
        ({"r": {"url": "/a"}, "s": {"url": "/a"}}, "is also the URL of resource_servers['r']"),
        ({"r": {"url": "/a", "scopes": ["openid"]}}, "resource_servers['r'].scopes[0]"),
        ({"r": {"url": "/a", "scopes": ["a b"]}}, "is not a scope"),
        ({"r": {"url": "/a", "scopes": "tools"}}, "expected a list of scope names"),
        ({"r": {"url": "/a", "require_dpop": "yes"}}, "resource_servers['r'].require_dpop"),
        (
            {"r": {"url": "/a", "access_token_lifetime_seconds": 5}},
            "resource_servers['r'].access_token_lifetime_seconds",
        ),
        ({"r": {"url": "/a", "scope": []}}, "resource_servers['r'].scope: unknown key"),
        ({"Bad Name": {"url": "/a"}}, "resource_servers['Bad Name']"),
    ],
)
def test_mistakes_name_the_field(spec: Any, expected: str) -> None:
    problems = _problems(spec)
    assert any(expected in p for p in problems), problems


def test_the_server_scopes_are_the_ones_config_reserves() -> None:
    assert AS_SCOPES == SUPPORTED_SCOPES
