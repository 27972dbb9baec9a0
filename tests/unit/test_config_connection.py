"""``connection.oauth`` / presets / ``define_auth(connections=...)``: refused at load time, naming
the field; client credentials from the environment; ``auth.users`` before any runtime opened it."""

from __future__ import annotations

import pytest

from authward import ConfigError, connection, define_auth, idp


def test_a_provider_is_named_oauth_name_and_reads_its_client_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTHWARD_CONNECTION_LINEAR_CLIENT_ID", "linear-id")
    monkeypatch.setenv("AUTHWARD_CONNECTION_LINEAR_CLIENT_SECRET", "linear-secret-value")
    provider = connection.oauth(
        "linear",
        authorize_url="https://linear.app/oauth/authorize",
        token_url="https://api.linear.app/oauth/token",
        scopes=["read"],
    )
    assert provider.name == "oauth_linear"
    assert provider.client_id == "linear-id"
    assert provider.client_secret is not None
    assert "linear-secret-value" not in repr(provider)
    auth = define_auth("a", connections=[provider])
    assert list(auth.connections) == ["oauth_linear"]


def test_every_mistake_names_its_field() -> None:
    with pytest.raises(ConfigError) as caught:
        connection.oauth(
            "Bad Name",
            authorize_url="http://example.com/authorize",
            token_url="not a url",
            scopes="read write",  # type: ignore[arg-type]
            pkce=False,
        )
    message = str(caught.value)
    for expected in (
        "connections['oauth_Bad Name'].name:",
        ".client_id: not set: pass client_id= or set AUTHWARD_CONNECTION_BAD_NAME_CLIENT_ID",
        ".authorize_url: 'http://example.com/authorize' must use https",
        ".token_url:",
        ".scopes: expected a list of scopes, not one string",
        ".client_secret: without PKCE the code exchange needs a secret",
    ):
        assert expected in message


def test_presets_and_define_auth_checks() -> None:
    slack = connection.slack(client_id="id", client_secret="secret", user_token=True)
    assert slack.name == "oauth_slack"
    assert slack.scope_param == "user_scope"
    assert slack.scope_separator == ","
    github = connection.github(client_id="id")
    assert github.pkce is True
    with pytest.raises(ConfigError, match=r"connections\['oauth_github'\]: is defined twice"):
        define_auth("a", connections=[github, github])
    with pytest.raises(ConfigError, match="the app has no id_provider named 'corp'"):
        define_auth("a", connections=[connection.from_id_provider("corp")])
    corp = idp.provider("corp", "web", issuer="https://corp.example", client_id="x")
    auth = define_auth("a", id_provider=corp, connections=[connection.from_id_provider("corp")])
    assert auth.connections["oauth_corp"].id_provider == "corp"


def test_auth_users_before_a_runtime_opened_the_config() -> None:
    auth = define_auth("a")
    with pytest.raises(ConfigError, match="auth 'a' is not open"):
        auth.users  # noqa: B018
