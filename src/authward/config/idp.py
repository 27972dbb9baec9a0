"""``idp``: name the external OpenID Connect provider users may sign in with.

The issuer URL and client credentials come from the call or from the environment
(``AUTHWARD_IDP_<NAME>_ISSUER``, ``..._CLIENT_ID``, ``..._CLIENT_SECRET``), so secrets stay out of
the app's source. The rest says how a signed-in upstream identity becomes a local user:

- ``username_claim`` (default ``"email"``) is the upstream claim that becomes the username;
- ``claims`` maps upstream claims onto profile fields, e.g. ``{"name": "display_name"}``;
- ``link_by_verified_email`` lets a first external sign-in take over the local user with the same
  email, only when the provider says ``email_verified: true`` (needs ``username_claim="email"``);
- ``scopes`` (must include ``openid``), ``algorithms`` (the ID-token signature allow-list),
  ``token_auth_method`` (``None``: from the provider's metadata, ``client_secret_basic`` first) and
  ``fetch_userinfo``.

The login flow itself is in ``authward.oauth.upstream`` (docs/external-idp.md).
"""

from __future__ import annotations

__all__ = ["DEFAULT_ALGORITHMS", "DEFAULT_SCOPES", "IdProvider", "TokenAuthMethod", "provider"]

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from pydantic import SecretStr

from authward.config.urls import url_problem
from authward.errors import ConfigError, ConfigIssue
from authward.tokens.jws_verify import SUPPORTED_ALGS

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: RFC 6749 §3.3 scope-token characters.
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
DEFAULT_SCOPES: tuple[str, ...] = ("openid", "email", "profile")
DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA", "PS256")
TokenAuthMethod = Literal["client_secret_basic", "client_secret_post"]
_AUTH_METHODS: tuple[TokenAuthMethod, ...] = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True, slots=True)
class IdProvider:
    name: str
    client: str
    issuer: str
    client_id: str
    client_secret: SecretStr | None
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    username_claim: str = "email"
    #: upstream claim -> profile field
    claims: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    link_by_verified_email: bool = False
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    token_auth_method: TokenAuthMethod | None = None
    fetch_userinfo: bool = True

    def __repr__(self) -> str:
        return f"IdProvider(name={self.name!r}, client={self.client!r}, issuer={self.issuer!r})"

    def profile_issues(
        self, fields: Collection[str] | None, username_field: str | None
    ) -> list[ConfigIssue]:
        """What is wrong with ``claims`` for the app's user profile (``None``: no profile)."""
        path = f"id_provider[{self.name!r}].claims"
        issues: list[ConfigIssue] = []
        if fields is None:
            if self.claims:
                issues.append(ConfigIssue(path, "define a user_profile to map claims onto"))
            return issues
        targets: dict[str, str] = {}
        for claim, target in self.claims.items():
            p = f"{path}[{claim!r}]"
            if target not in fields:
                issues.append(ConfigIssue(p, f"the user profile has no field {target!r}"))
            elif target == "id":
                issues.append(ConfigIssue(p, "the profile's id is not set from a claim"))
            elif target == username_field:
                issues.append(
                    ConfigIssue(p, f"{target!r} is the username: choose it with username_claim")
                )
            elif target in targets:
                issues.append(
                    ConfigIssue(p, f"{target!r} is already set from claim {targets[target]!r}")
                )
            else:
                targets[target] = claim
        return issues


def env_prefix(name: str) -> str:
    return "AUTHWARD_IDP_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_"


def _strings(value: object) -> tuple[object, ...] | None:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return None
    return tuple(value)


def provider(
    name: str,
    client: str,
    *,
    issuer: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    scopes: Sequence[str] = DEFAULT_SCOPES,
    username_claim: str = "email",
    claims: Mapping[str, str] | None = None,
    link_by_verified_email: bool = False,
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    token_auth_method: TokenAuthMethod | None = None,
    fetch_userinfo: bool = True,
) -> IdProvider:
    path = f"id_provider[{name!r}]"
    issues: list[ConfigIssue] = []
    for label, value in (("name", name), ("client", client)):
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            issues.append(
                ConfigIssue(f"{path}.{label}", "use lower-case letters, digits, '-' and '_'")
            )
    prefix = env_prefix(name if isinstance(name, str) else "")
    issuer = issuer or os.environ.get(prefix + "ISSUER")
    client_id = client_id or os.environ.get(prefix + "CLIENT_ID")
    secret = client_secret or os.environ.get(prefix + "CLIENT_SECRET")
    if not issuer:
        issues.append(ConfigIssue(f"{path}.issuer", f"not set: pass issuer= or set {prefix}ISSUER"))
    else:
        problem = url_problem(issuer)
        if problem:
            issues.append(ConfigIssue(f"{path}.issuer", problem))
        elif "?" in issuer:
            issues.append(ConfigIssue(f"{path}.issuer", "an issuer URL has no query"))
    if not client_id:
        issues.append(
            ConfigIssue(f"{path}.client_id", f"not set: pass client_id= or set {prefix}CLIENT_ID")
        )

    scope_list = _strings(scopes)
    if scope_list is None:
        issues.append(ConfigIssue(f"{path}.scopes", "expected a list of scopes, not one string"))
        scope_list = DEFAULT_SCOPES
    for i, scope in enumerate(scope_list):
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            issues.append(ConfigIssue(f"{path}.scopes[{i}]", f"{scope!r} is not a scope"))
    if "openid" not in scope_list:
        issues.append(
            ConfigIssue(f"{path}.scopes", "must include 'openid' (an ID token is needed)")
        )
    if not isinstance(username_claim, str) or not _CLAIM.fullmatch(username_claim):
        issues.append(ConfigIssue(f"{path}.username_claim", "expected a claim name"))
    claim_map = claims if claims is not None else {}
    if not isinstance(claim_map, Mapping):
        issues.append(ConfigIssue(f"{path}.claims", "expected {upstream_claim: profile_field}"))
        claim_map = {}
    for claim, target in claim_map.items():
        if not isinstance(claim, str) or not _CLAIM.fullmatch(claim):
            issues.append(ConfigIssue(f"{path}.claims", f"{claim!r} is not a claim name"))
        elif not isinstance(target, str) or not target:
            issues.append(ConfigIssue(f"{path}.claims[{claim!r}]", "expected a profile field name"))
    if not isinstance(link_by_verified_email, bool):
        issues.append(ConfigIssue(f"{path}.link_by_verified_email", "expected True or False"))
    elif link_by_verified_email and username_claim != "email":
        issues.append(
            ConfigIssue(
                f"{path}.link_by_verified_email",
                "links by email, so it needs username_claim='email'",
            )
        )
    alg_list = _strings(algorithms)
    if not alg_list:
        issues.append(ConfigIssue(f"{path}.algorithms", "expected a list of one algorithm or more"))
        alg_list = ()
    for alg in alg_list:
        if alg not in SUPPORTED_ALGS:
            issues.append(
                ConfigIssue(
                    f"{path}.algorithms",
                    f"{alg!r} is not accepted (supported: {', '.join(sorted(SUPPORTED_ALGS))})",
                )
            )
    if token_auth_method is not None and token_auth_method not in _AUTH_METHODS:
        issues.append(
            ConfigIssue(f"{path}.token_auth_method", f"expected one of {', '.join(_AUTH_METHODS)}")
        )
    elif token_auth_method is not None and not secret:
        issues.append(
            ConfigIssue(
                f"{path}.token_auth_method",
                f"{token_auth_method} needs a client secret: pass client_secret= or set "
                f"{prefix}CLIENT_SECRET",
            )
        )
    if not isinstance(fetch_userinfo, bool):
        issues.append(ConfigIssue(f"{path}.fetch_userinfo", "expected True or False"))
    if issues:
        raise ConfigError(issues)
    assert issuer is not None
    assert client_id is not None
    return IdProvider(
        name=name,
        client=client,
        issuer=issuer.rstrip("/"),
        client_id=client_id,
        client_secret=SecretStr(secret) if secret else None,
        scopes=tuple(dict.fromkeys(str(s) for s in scope_list)),
        username_claim=username_claim,
        claims=MappingProxyType({str(c): str(t) for c, t in claim_map.items()}),
        link_by_verified_email=link_by_verified_email,
        algorithms=tuple(str(a) for a in alg_list),
        token_auth_method=token_auth_method,
        fetch_userinfo=fetch_userinfo,
    )
