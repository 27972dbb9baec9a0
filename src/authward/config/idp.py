"""``idp``: name the external OpenID Connect provider users may sign in with.

The issuer URL and client credentials come from the call or from the environment
(``AUTHWARD_IDP_<NAME>_ISSUER``, ``..._CLIENT_ID``, ``..._CLIENT_SECRET``), so secrets stay out of
the app's source. The login flow itself belongs to the authorization server.
"""

from __future__ import annotations

__all__ = ["IdProvider", "provider"]

import os
import re
from dataclasses import dataclass

from pydantic import SecretStr

from authward.config.urls import url_problem
from authward.errors import ConfigError, ConfigIssue

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, slots=True)
class IdProvider:
    name: str
    client: str
    issuer: str
    client_id: str
    client_secret: SecretStr | None

    def __repr__(self) -> str:
        return f"IdProvider(name={self.name!r}, client={self.client!r}, issuer={self.issuer!r})"


def env_prefix(name: str) -> str:
    return "AUTHWARD_IDP_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_"


def provider(
    name: str,
    client: str,
    *,
    issuer: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
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
    )
