"""``define_auth(oauth2_clients=...)``: the OAuth 2.0 clients an app declares, validated."""

from __future__ import annotations

__all__ = [
    "GRANT_TYPES",
    "GRANT_TYPES_SUPPORTED",
    "ID_TOKEN_ALGS",
    "MACHINE_USER_GRANT",
    "GrantType",
    "IdTokenAlg",
    "OAuth2Client",
    "OAuth2ClientSpec",
    "parse_oauth2_clients",
]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Required, TypedDict, get_args

from authward.config.issues import NAME, Issues
from authward.config.urls import url_problem

#: The grants a declared OAuth client may use.
GrantType = Literal["authorization_code", "refresh_token"]
GRANT_TYPES: tuple[GrantType, ...] = get_args(GrantType)
#: Machine users' one grant (RFC 6749 §4.4); no declared client may use it.
MACHINE_USER_GRANT: Final = "client_credentials"
#: Every grant the token endpoint serves, in the order discovery lists them. The handlers that
#: serve them are registered in oauth/grant_handlers (above this layer); a test keeps them equal.
GRANT_TYPES_SUPPORTED: tuple[str, ...] = (*GRANT_TYPES, MACHINE_USER_GRANT)
IdTokenAlg = Literal["RS256", "ES256", "EdDSA"]
#: OIDC Dynamic Client Registration §2 makes RS256 the default ``id_token_signed_response_alg``.
ID_TOKEN_ALGS: tuple[IdTokenAlg, ...] = ("RS256", "ES256", "EdDSA")
ACCESS_LIFETIME_RANGE = (60, 86_400)
REFRESH_LIFETIME_RANGE = (60, 604_800)
REFRESH_ABSOLUTE_LIFETIME_RANGE = (60, 31_536_000)
REFRESH_GRACE_RANGE = (0, 60)


class OAuth2ClientSpec(TypedDict, total=False):
    redirect_uris: Required[Sequence[str]]
    description: str
    grant_types: Sequence[GrantType]
    access_token_lifetime_seconds: int
    refresh_token_lifetime_seconds: int
    #: The grant (every rotation of one authorization) ends this long after it; RFC 9700 §4.14.
    refresh_token_absolute_lifetime_seconds: int
    #: How long a rotated-out refresh token may be retried while its successor is unused.
    refresh_token_rotation_grace_seconds: int
    require_dpop: bool
    public: bool
    #: Where end-session (RP-Initiated Logout) may send the browser back to, exactly.
    post_logout_redirect_uris: Sequence[str]
    id_token_signed_response_alg: IdTokenAlg


@dataclass(frozen=True, slots=True)
class OAuth2Client:
    name: str
    redirect_uris: tuple[str, ...]
    description: str
    grant_types: tuple[GrantType, ...]
    #: ``None`` means "the platform default" (settings), resolved when a token is issued.
    access_token_lifetime_seconds: int | None
    refresh_token_lifetime_seconds: int | None
    require_dpop: bool
    #: A public client (RFC 6749 §2.1: a browser or native app) holds no secret: it
    #: authenticates with ``none`` and PKCE; a confidential one with its client secret.
    public: bool = False
    post_logout_redirect_uris: tuple[str, ...] = ()
    #: ``None``: the instance defaults (settings), as for the lifetimes above.
    refresh_token_absolute_lifetime_seconds: int | None = None
    refresh_token_rotation_grace_seconds: int | None = None
    #: What this client's ID tokens are signed with (its access tokens: the server's key).
    id_token_signed_response_alg: IdTokenAlg = "RS256"  # noqa: S105 - an algorithm name


def _lifetime(path: str, value: object, bounds: tuple[int, int], issues: Issues) -> int | None:
    if value is None:
        return None
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        issues.add(path, "expected a whole number of seconds")
        return None
    if not low <= value <= high:
        issues.add(path, f"must be between {low} and {high} seconds, got {value}")
        return None
    return value


def parse_oauth2_clients(spec: object, issues: Issues) -> dict[str, OAuth2Client]:
    if not isinstance(spec, Mapping):
        issues.add("oauth2_clients", "expected {name: {redirect_uris: [...]}, ...}")
        return {}
    out: dict[str, OAuth2Client] = {}
    allowed = list(OAuth2ClientSpec.__annotations__)
    for name, c in spec.items():
        path = f"oauth2_clients[{name!r}]"
        if not isinstance(name, str) or not NAME.fullmatch(name):
            issues.add(path, "names use lower-case letters, digits, '-' and '_'")
            continue
        if not isinstance(c, Mapping):
            issues.add(path, "expected {redirect_uris: [...], grant_types: [...]}")
            continue
        issues.unknown_keys(path, c, allowed)
        grants = c.get("grant_types", GRANT_TYPES)
        if isinstance(grants, str) or not isinstance(grants, Sequence) or not grants:
            issues.add(f"{path}.grant_types", "expected a non-empty list")
            grants = ()
        for g in grants:
            if g not in GRANT_TYPES:
                extra = (
                    "; machine users get tokens with client_credentials"
                    if g == MACHINE_USER_GRANT
                    else ""
                )
                issues.add(
                    f"{path}.grant_types",
                    f"{g!r} is not supported (allowed: {', '.join(GRANT_TYPES)}){extra}",
                )
        if "refresh_token" in grants and "authorization_code" not in grants:
            issues.add(f"{path}.grant_types", "refresh_token requires authorization_code")
        uris = c.get("redirect_uris")
        if isinstance(uris, str) or not isinstance(uris, Sequence) or not uris:
            issues.add(f"{path}.redirect_uris", "expected a non-empty list of absolute URLs")
            uris = ()
        for i, uri in enumerate(uris):
            problem = url_problem(uri)
            if problem:
                issues.add(f"{path}.redirect_uris[{i}]", problem)
        texts = [u for u in uris if isinstance(u, str)]
        if len(set(texts)) != len(texts):
            issues.add(f"{path}.redirect_uris", "lists the same URI twice")
        description = c.get("description", "")
        if not isinstance(description, str):
            issues.add(f"{path}.description", "expected a string")
            description = ""
        logout_uris = _post_logout_redirect_uris(path, c.get("post_logout_redirect_uris"), issues)
        require_dpop = c.get("require_dpop", False)
        if not isinstance(require_dpop, bool):
            issues.add(f"{path}.require_dpop", "expected True or False")
            require_dpop = False
        public = c.get("public", False)
        if not isinstance(public, bool):
            issues.add(f"{path}.public", "expected True or False")
            public = False
        id_token_alg = c.get("id_token_signed_response_alg", "RS256")
        if id_token_alg not in ID_TOKEN_ALGS:
            issues.add(
                f"{path}.id_token_signed_response_alg",
                f"{id_token_alg!r} is not supported (allowed: {', '.join(ID_TOKEN_ALGS)})",
            )
            id_token_alg = "RS256"  # noqa: S105 - an algorithm name
        absolute, grace = _refresh_grant(path, c, issues)
        out[name] = OAuth2Client(
            name=name,
            redirect_uris=tuple(str(u) for u in uris),
            description=description,
            grant_types=tuple(g for g in GRANT_TYPES if g in grants),
            access_token_lifetime_seconds=_lifetime(
                f"{path}.access_token_lifetime_seconds",
                c.get("access_token_lifetime_seconds"),
                ACCESS_LIFETIME_RANGE,
                issues,
            ),
            refresh_token_lifetime_seconds=_lifetime(
                f"{path}.refresh_token_lifetime_seconds",
                c.get("refresh_token_lifetime_seconds"),
                REFRESH_LIFETIME_RANGE,
                issues,
            ),
            require_dpop=require_dpop,
            public=public,
            post_logout_redirect_uris=logout_uris,
            refresh_token_absolute_lifetime_seconds=absolute,
            refresh_token_rotation_grace_seconds=grace,
            id_token_signed_response_alg=id_token_alg,
        )
    return out


def _refresh_grant(
    path: str, c: Mapping[str, Any], issues: Issues
) -> tuple[int | None, int | None]:
    """The client's refresh grant absolute lifetime and rotation grace (``None``: defaults)."""
    absolute = _lifetime(
        f"{path}.refresh_token_absolute_lifetime_seconds",
        c.get("refresh_token_absolute_lifetime_seconds"),
        REFRESH_ABSOLUTE_LIFETIME_RANGE,
        issues,
    )
    idle = c.get("refresh_token_lifetime_seconds")
    if absolute is not None and isinstance(idle, int) and absolute < idle:
        issues.add(
            f"{path}.refresh_token_absolute_lifetime_seconds",
            f"must be at least refresh_token_lifetime_seconds ({idle}), got {absolute}",
        )
    grace = _lifetime(
        f"{path}.refresh_token_rotation_grace_seconds",
        c.get("refresh_token_rotation_grace_seconds"),
        REFRESH_GRACE_RANGE,
        issues,
    )
    return absolute, grace


def _post_logout_redirect_uris(client_path: str, uris: object, issues: Issues) -> tuple[str, ...]:
    path = f"{client_path}.post_logout_redirect_uris"
    if uris is None:
        return ()
    if isinstance(uris, str) or not isinstance(uris, Sequence):
        issues.add(path, "expected a list of absolute URLs")
        return ()
    for i, uri in enumerate(uris):
        problem = url_problem(uri)
        if problem:
            issues.add(f"{path}[{i}]", problem)
    texts = [u for u in uris if isinstance(u, str)]
    if len(set(texts)) != len(texts):
        issues.add(path, "lists the same URI twice")
    return tuple(texts)
