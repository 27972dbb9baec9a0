"""``connection``: the third-party OAuth providers accounts may connect (the vault, issue 6).

    define_auth(
        "my-auth",
        connections=[
            connection.slack(scopes=["chat:write"]),                  # "oauth_slack"
            connection.github(scopes=["repo", "admin:repo_hook"]),    # "oauth_github"
            connection.oauth("linear", authorize_url=..., token_url=..., scopes=[...]),
            connection.from_id_provider("corp-sso"),                  # the login IdP's tokens
        ],
    )

Each provider is named ``oauth_<name>`` (the name ``auth.users.get_oauth_access_token`` takes, as
Clerk's ``getUserOauthAccessToken``). Its client id and secret come from the call or from
``AUTHWARD_CONNECTION_<NAME>_CLIENT_ID`` / ``_CLIENT_SECRET``, so secrets stay out of the app's
source. Every mistake is refused when the app is loaded, naming the field. The flows themselves
are in :mod:`authward.connections` (docs/connected-accounts.md).
"""

from __future__ import annotations

__all__ = [
    "ConnectionProvider",
    "TokenAuthMethod",
    "env_prefix",
    "from_id_provider",
    "github",
    "oauth",
    "slack",
]

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from pydantic import SecretStr

from authward.config.urls import url_problem
from authward.errors import ConfigError, ConfigIssue

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,56}$")
#: RFC 6749 §3.3 scope-token characters (Slack's "chat:write" and GitHub's "admin:repo_hook" fit).
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")
_PARAM = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TokenAuthMethod = Literal["client_secret_basic", "client_secret_post"]
_AUTH_METHODS: tuple[TokenAuthMethod, ...] = ("client_secret_basic", "client_secret_post")
_RESERVED_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "state", "code_challenge",
     "code_challenge_method", "scope"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ConnectionProvider:
    """One provider accounts may connect. ``id_provider`` set: its tokens come from "Sign in
    with <id_provider>" and its endpoints and client from that provider's configuration."""

    name: str
    authorize_url: str | None
    token_url: str | None
    client_id: str | None
    client_secret: SecretStr | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    pkce: bool = True
    revocation_url: str | None = None
    token_auth_method: TokenAuthMethod = "client_secret_post"  # noqa: S105 - a method name
    #: The authorize parameter that carries the scopes (Slack's user tokens use "user_scope").
    scope_param: str = "scope"
    scope_separator: str = " "
    extra_authorize_params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: A label for people ("Slack"); defaults to the short name.
    display_name: str = ""
    id_provider: str | None = None

    @property
    def short_name(self) -> str:
        return self.name.removeprefix("oauth_")


def env_prefix(name: str) -> str:
    return "AUTHWARD_CONNECTION_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_"


def _url(path: str, value: object, issues: list[ConfigIssue], *, required: bool) -> str | None:
    if value is None and not required:
        return None
    problem = url_problem(value)
    if problem:
        issues.append(ConfigIssue(path, problem))
        return None
    assert isinstance(value, str)
    return value


def oauth(
    name: str,
    *,
    authorize_url: str,
    token_url: str,
    scopes: Sequence[str] = (),
    pkce: bool = True,
    revocation_url: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    token_auth_method: TokenAuthMethod = "client_secret_post",  # noqa: S107 - a method name
    scope_param: str = "scope",
    scope_separator: str = " ",
    extra_authorize_params: Mapping[str, str] | None = None,
    display_name: str | None = None,
) -> ConnectionProvider:
    """A provider accounts connect over the OAuth 2.0 authorization code flow (RFC 6749 §4.1),
    with PKCE S256 (RFC 7636) when ``pkce``; named ``oauth_<name>``."""
    short = name.removeprefix("oauth_") if isinstance(name, str) else ""
    path = f"connections['oauth_{short}']"
    issues: list[ConfigIssue] = []
    if not isinstance(name, str) or not _NAME.fullmatch(short):
        issues.append(
            ConfigIssue(f"{path}.name", "use lower-case letters, digits, '-' and '_' (57 at most)")
        )
    prefix = env_prefix(short)
    client_id = client_id or os.environ.get(prefix + "CLIENT_ID")
    secret = client_secret or os.environ.get(prefix + "CLIENT_SECRET")
    if not client_id:
        issues.append(
            ConfigIssue(f"{path}.client_id", f"not set: pass client_id= or set {prefix}CLIENT_ID")
        )
    authorize = _url(f"{path}.authorize_url", authorize_url, issues, required=True)
    token = _url(f"{path}.token_url", token_url, issues, required=True)
    revocation = _url(f"{path}.revocation_url", revocation_url, issues, required=False)
    scope_list: tuple[object, ...] = ()
    if isinstance(scopes, str) or not isinstance(scopes, Sequence):
        issues.append(ConfigIssue(f"{path}.scopes", "expected a list of scopes, not one string"))
    else:
        scope_list = tuple(scopes)
    for i, scope in enumerate(scope_list):
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            issues.append(ConfigIssue(f"{path}.scopes[{i}]", f"{scope!r} is not a scope"))
    if not isinstance(pkce, bool):
        issues.append(ConfigIssue(f"{path}.pkce", "expected True or False"))
    if token_auth_method not in _AUTH_METHODS:
        issues.append(
            ConfigIssue(f"{path}.token_auth_method", f"expected one of {', '.join(_AUTH_METHODS)}")
        )
    if not pkce and not secret:
        issues.append(
            ConfigIssue(
                f"{path}.client_secret",
                f"without PKCE the code exchange needs a secret: pass client_secret= or set "
                f"{prefix}CLIENT_SECRET",
            )
        )
    if not isinstance(scope_param, str) or not _PARAM.fullmatch(scope_param):
        issues.append(ConfigIssue(f"{path}.scope_param", "expected a query parameter name"))
    if scope_separator not in (" ", ","):
        issues.append(ConfigIssue(f"{path}.scope_separator", "expected ' ' or ','"))
    extra = dict(extra_authorize_params or {})
    for key, value in extra.items():
        if not isinstance(key, str) or not _PARAM.fullmatch(key) or key in _RESERVED_PARAMS:
            issues.append(
                ConfigIssue(f"{path}.extra_authorize_params", f"{key!r} cannot be set here")
            )
        elif not isinstance(value, str):
            issues.append(ConfigIssue(f"{path}.extra_authorize_params[{key!r}]", "expected text"))
    if issues:
        raise ConfigError(issues)
    assert authorize is not None
    assert token is not None
    return ConnectionProvider(
        name=f"oauth_{short}",
        authorize_url=authorize,
        token_url=token,
        client_id=client_id,
        client_secret=SecretStr(secret) if secret else None,
        scopes=tuple(dict.fromkeys(str(s) for s in scope_list)),
        pkce=pkce,
        revocation_url=revocation,
        token_auth_method=token_auth_method,
        scope_param=scope_param,
        scope_separator=scope_separator,
        extra_authorize_params=MappingProxyType(extra),
        display_name=display_name or short,
    )


def slack(
    *,
    scopes: Sequence[str] = ("chat:write",),
    user_token: bool = False,
    client_id: str | None = None,
    client_secret: str | None = None,
    base_url: str = "https://slack.com",
) -> ConnectionProvider:
    """Slack's OAuth v2 ("oauth_slack"): a bot token by default, a user token with
    ``user_token=True`` (its scopes go in ``user_scope``). Token rotation, when turned on in the
    Slack app, gives refresh tokens that authward uses before expiry."""
    return oauth(
        "slack",
        authorize_url=f"{base_url}/oauth/v2/authorize",
        token_url=f"{base_url}/api/oauth.v2.access",
        revocation_url=f"{base_url}/api/auth.revoke",
        scopes=scopes,
        pkce=False,
        client_id=client_id,
        client_secret=client_secret,
        scope_param="user_scope" if user_token else "scope",
        scope_separator=",",
        display_name="Slack",
    )


def github(
    *,
    scopes: Sequence[str] = ("repo",),
    client_id: str | None = None,
    client_secret: str | None = None,
    base_url: str = "https://github.com",
) -> ConnectionProvider:
    """A GitHub OAuth app or GitHub App user token ("oauth_github"). Expiring user tokens of a
    GitHub App come with refresh tokens; an OAuth app's tokens do not expire."""
    return oauth(
        "github",
        authorize_url=f"{base_url}/login/oauth/authorize",
        token_url=f"{base_url}/login/oauth/access_token",
        scopes=scopes,
        pkce=True,
        client_id=client_id,
        client_secret=client_secret,
        display_name="GitHub",
    )


def from_id_provider(name: str) -> ConnectionProvider:
    """The tokens of "Sign in with ``name``" (the app's ``id_provider``), kept as the user's
    connection ``oauth_<name>`` at every sign-in; refreshed at the provider's token endpoint
    (ask for ``offline_access`` in the id_provider's scopes to get a refresh token)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            "use the name of the app's id_provider", path=f"connections['oauth_{name}'].name"
        )
    return ConnectionProvider(
        name=f"oauth_{name}",
        authorize_url=None,
        token_url=None,
        client_id=None,
        display_name=name,
        id_provider=name,
    )
