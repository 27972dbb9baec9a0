"""``define_auth``: the app's one auth service, validated as a whole when the app is loaded.

Every rule of the seed is enforced here and every refusal names the path that is wrong, e.g.
``machine_users['admin-machine-user'].attributes.role: required by user_profile.attributes``.
"""

from __future__ import annotations

__all__ = [
    "ID_TOKEN_ALGS",
    "Auth",
    "AuthUsers",
    "IdTokenAlg",
    "Invoker",
    "MachineUser",
    "MachineUserSpec",
    "OAuth2Client",
    "OAuth2ClientSpec",
    "UserProfile",
    "UserProfileSpec",
    "define_auth",
]

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Literal, Protocol, Required, TypedDict, TypeVar
from uuid import UUID

from typing_extensions import ReadOnly

from authward.config.connection import ConnectionProvider
from authward.config.db import DbType
from authward.config.fields import TEMPORAL_KINDS, VALUE_OPERAND_KINDS, Field, enum_problem
from authward.config.idp import IdProvider
from authward.config.urls import url_problem
from authward.errors import ConfigError, ConfigIssue
from authward.principal import AttributeValue

GrantType = Literal["authorization_code", "refresh_token"]
GRANT_TYPES: tuple[GrantType, ...] = ("authorization_code", "refresh_token")
IdTokenAlg = Literal["RS256", "ES256", "EdDSA"]
#: OIDC Dynamic Client Registration §2 makes RS256 the default ``id_token_signed_response_alg``.
ID_TOKEN_ALGS: tuple[IdTokenAlg, ...] = ("RS256", "ES256", "EdDSA")
ACCESS_LIFETIME_RANGE = (60, 86_400)
REFRESH_LIFETIME_RANGE = (60, 604_800)
REFRESH_ABSOLUTE_LIFETIME_RANGE = (60, 31_536_000)
REFRESH_GRACE_RANGE = (0, 60)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class UserProfileSpec(TypedDict, total=False):
    type: Required[DbType]
    username_field: Required[str]
    attributes: Mapping[str, Literal[True]]
    attribute_list: Sequence[str]


class MachineUserSpec(TypedDict, total=False):
    # ReadOnly, and ``object`` values: the precise TypedDicts of ``authward generate`` fit it.
    attributes: ReadOnly[Mapping[str, object]]
    attribute_list: ReadOnly[Sequence[str | UUID]]


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
class UserProfile:
    type: DbType
    username_field: str
    attributes: tuple[str, ...]
    attribute_list: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MachineUser:
    name: str
    attributes: Mapping[str, AttributeValue]
    attribute_list: tuple[UUID, ...]


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


NameT_contra = TypeVar("NameT_contra", bound=str, contravariant=True)


@dataclass(frozen=True, slots=True)
class Invoker:
    """A checked reference to a machine user whose permissions a job run uses."""

    auth_name: str
    machine_user: str


class AuthUsers(Protocol):
    """What ``auth.users`` offers once an ``Authward`` has opened the config (``aw.users``)."""

    async def get_oauth_access_token(self, account_id: str, provider: str) -> list[Any]: ...


@dataclass(frozen=True, eq=False)
class Auth(Generic[NameT_contra]):
    """The app's auth service. ``Auth[Literal[...]]`` (see ``authward generate``) makes
    ``invoker()`` accept only the configured machine-user names under mypy."""

    name: str
    user_profile: UserProfile | None
    #: The enabled attributes and their types, from the profile or ``machine_user_attributes``.
    attribute_fields: Mapping[str, Field]
    attribute_list_fields: tuple[str, ...]
    machine_users: Mapping[str, MachineUser]
    oauth2_clients: Mapping[str, OAuth2Client]
    id_provider: IdProvider | None = field(default=None)
    #: Organization role -> the permissions a member with that role holds.
    organization_roles: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_ORGANIZATION_ROLES))
    )
    #: The third-party providers accounts may connect, by name ("oauth_slack").
    connections: Mapping[str, ConnectionProvider] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def users(self) -> AuthUsers:
        """The users of the runtime that opened this config, as the seed's resolver reads them:
        ``await auth.users.get_oauth_access_token(account_id, "oauth_slack")``."""
        bound: AuthUsers | None = getattr(self, "_users", None)
        if bound is None:
            raise ConfigError(
                f"auth {self.name!r} is not open: auth.users works once Authward.open(config) "
                "(or `authward serve` / `authward worker`) has opened the app"
            )
        return bound

    def bind_users(self, users: AuthUsers | None) -> None:
        """Called by the runtime that opens (``users``) and closes (``None``) this config."""
        # A frozen dataclass: the binding is runtime state, not configuration.
        object.__setattr__(self, "_users", users)

    def invoker(self, name: NameT_contra) -> Invoker:
        if name not in self.machine_users:
            known = ", ".join(sorted(self.machine_users)) or "none are defined"
            raise ConfigError(f"no machine user {name!r} in auth {self.name!r} (known: {known})")
        return Invoker(self.name, name)


class _Issues:
    def __init__(self) -> None:
        self.items: list[ConfigIssue] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(ConfigIssue(path, message))

    def unknown_keys(self, path: str, given: Mapping[str, Any], allowed: Sequence[str]) -> None:
        by_squashed = {_squash(a): a for a in allowed}
        for key in given:
            if key not in allowed:
                exact = by_squashed.get(_squash(str(key)))
                close = [exact] if exact else difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.add(f"{path}.{key}", f"unknown key{hint} (allowed: {', '.join(allowed)})")


def _squash(name: str) -> str:
    """``redirectURIs`` and ``redirect_uris`` squash to the same key (for "did you mean")."""
    return name.replace("_", "").lower()


def _label(field_name: str, f: Field) -> str:
    return f"{field_name} ({f.type_label})"


def _profile(spec: object, issues: _Issues) -> tuple[UserProfile | None, dict[str, Field]]:
    path = "user_profile"
    if not isinstance(spec, Mapping):
        issues.add(path, "expected a mapping with type, username_field, attributes")
        return None, {}
    issues.unknown_keys(path, spec, ["type", "username_field", "attributes", "attribute_list"])
    db_type = spec.get("type")
    if not isinstance(db_type, DbType):
        issues.add(f"{path}.type", "expected a type made with db.type(...)")
        return None, {}
    username_field = spec.get("username_field")
    uf = db_type.fields.get(username_field) if isinstance(username_field, str) else None
    if not isinstance(username_field, str):
        issues.add(f"{path}.username_field", "required: the field users sign in with")
    elif uf is None:
        issues.add(f"{path}.username_field", f"{db_type.name} has no field {username_field!r}")
    elif username_field == "id":
        issues.add(f"{path}.username_field", "the implicit id cannot be the username; use a string")
    elif not uf.is_unique:
        issues.add(
            f"{path}.username_field",
            f"{db_type.name}.{username_field} must be unique: declare it with .unique()",
        )
    elif uf.kind not in ("string", "enum") or uf.array:
        issues.add(f"{path}.username_field", f"{db_type.name}.{username_field} must be a string")

    attributes: dict[str, Field] = {}
    raw_attrs = spec.get("attributes", {})
    if not isinstance(raw_attrs, Mapping):
        issues.add(f"{path}.attributes", "expected {field: True, ...}")
        raw_attrs = {}
    for name, enabled in raw_attrs.items():
        p = f"{path}.attributes.{name}"
        f = db_type.fields.get(name)
        if enabled is not True:
            issues.add(p, "set to True to enable the field as an attribute")
        elif name == "id":
            issues.add(p, "the id field cannot be an attribute")
        elif f is None:
            issues.add(p, f"{db_type.name} has no field {name!r}")
        elif f.kind in TEMPORAL_KINDS:
            issues.add(p, f"{_label(name, f)}: datetime, date and time fields cannot be attributes")
        elif f.kind not in VALUE_OPERAND_KINDS:
            issues.add(
                p,
                f"{_label(name, f)}: only string, boolean, string[] and boolean[] fields "
                "can be attributes",
            )
        else:
            attributes[name] = f

    raw_list = spec.get("attribute_list", ())
    attribute_list: list[str] = []
    if isinstance(raw_list, str) or not isinstance(raw_list, Sequence):
        issues.add(f"{path}.attribute_list", "expected a list of field names")
        raw_list = ()
    for i, name in enumerate(raw_list):
        p = f"{path}.attribute_list[{i}]"
        f = db_type.fields.get(name) if isinstance(name, str) else None
        if f is None:
            issues.add(p, f"{db_type.name} has no field {name!r}")
        elif name == "id" or f.kind != "uuid" or f.array:
            issues.add(p, f"{_label(name, f)}: only non-array uuid fields can be listed")
        elif name in attribute_list:
            issues.add(p, f"{name!r} is listed twice")
        else:
            attribute_list.append(name)
    profile = UserProfile(
        db_type,
        username_field if isinstance(username_field, str) else "",
        tuple(attributes),
        tuple(attribute_list),
    )
    return profile, attributes


def _machine_user_attributes(spec: object, issues: _Issues) -> dict[str, Field]:
    path = "machine_user_attributes"
    if not isinstance(spec, Mapping):
        issues.add(path, "expected {name: t.string(), ...}")
        return {}
    out: dict[str, Field] = {}
    for name, f in spec.items():
        p = f"{path}.{name}"
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
            issues.add(p, "attribute names are identifiers")
        elif not isinstance(f, Field):
            issues.add(
                p, "expected t.string(), t.bool(), t.string(array=True) or t.bool(array=True)"
            )
        elif f.kind not in VALUE_OPERAND_KINDS:
            issues.add(
                p, f"{f.type_label}: only string, boolean, string[] and boolean[] are allowed"
            )
        elif problem := enum_problem(f):
            issues.add(p, problem)
        else:
            out[name] = f
    return out


def _attribute_value(path: str, f: Field, value: object, issues: _Issues) -> AttributeValue | None:
    def scalar_ok(v: object) -> bool:
        if f.kind == "bool":
            return isinstance(v, bool)
        return isinstance(v, str) and (f.kind != "enum" or v in f.values)

    expected = f.type_label + (f" (one of {', '.join(map(repr, f.values))})" if f.values else "")
    if f.array:
        if isinstance(value, str) or not isinstance(value, Sequence):
            issues.add(path, f"expected {expected}, got {type(value).__name__}")
            return None
        bad = [v for v in value if not scalar_ok(v)]
        if bad:
            issues.add(path, f"expected {expected}, got item {bad[0]!r}")
            return None
        return tuple(value)
    if not scalar_ok(value):
        got = repr(value) if isinstance(value, str | bool | int | float) else type(value).__name__
        issues.add(path, f"expected {expected}, got {got}")
        return None
    assert isinstance(value, str | bool)
    return value


def _machine_users(
    spec: object,
    attribute_fields: Mapping[str, Field],
    list_fields: tuple[str, ...],
    source: str,
    issues: _Issues,
) -> dict[str, MachineUser]:
    if not isinstance(spec, Mapping):
        issues.add("machine_users", "expected {name: {attributes: {...}}, ...}")
        return {}
    out: dict[str, MachineUser] = {}
    for name, mu in spec.items():
        path = f"machine_users[{name!r}]"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            issues.add(path, "names use lower-case letters, digits, '-' and '_'")
            continue
        if not isinstance(mu, Mapping):
            issues.add(path, "expected {attributes: {...}, attribute_list: [...]}")
            continue
        issues.unknown_keys(path, mu, ["attributes", "attribute_list"])
        given = mu.get("attributes", {})
        if not isinstance(given, Mapping):
            issues.add(f"{path}.attributes", "expected a mapping")
            given = {}
        values: dict[str, AttributeValue] = {}
        for attr, f in attribute_fields.items():
            if attr not in given:
                issues.add(f"{path}.attributes.{attr}", f"required by {source}")
                continue
            v = _attribute_value(f"{path}.attributes.{attr}", f, given[attr], issues)
            if v is not None:
                values[attr] = v
        for attr in given:
            if attr not in attribute_fields:
                issues.add(f"{path}.attributes.{attr}", f"not an attribute enabled in {source}")
        uuids = _attribute_list(
            f"{path}.attribute_list", mu.get("attribute_list"), list_fields, issues
        )
        out[name] = MachineUser(name, MappingProxyType(values), uuids)
    return out


def _attribute_list(
    path: str, given: object, list_fields: tuple[str, ...], issues: _Issues
) -> tuple[UUID, ...]:
    if given is None:
        given = ()
    if isinstance(given, str) or not isinstance(given, Sequence):
        issues.add(path, "expected a list of UUIDs")
        return ()
    if len(given) != len(list_fields):
        want = f"{len(list_fields)} ({', '.join(list_fields)})" if list_fields else "none"
        issues.add(
            path,
            f"expected one UUID per user_profile.attribute_list field, in order: {want}; "
            f"got {len(given)}",
        )
        return ()
    out: list[UUID] = []
    for i, v in enumerate(given):
        try:
            out.append(v if isinstance(v, UUID) else UUID(str(v)))
        except ValueError:
            issues.add(f"{path}[{i}]", f"{v!r} is not a valid UUID ({list_fields[i]})")
    return tuple(out)


def _lifetime(path: str, value: object, bounds: tuple[int, int], issues: _Issues) -> int | None:
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


def _oauth2_clients(spec: object, issues: _Issues) -> dict[str, OAuth2Client]:
    if not isinstance(spec, Mapping):
        issues.add("oauth2_clients", "expected {name: {redirect_uris: [...]}, ...}")
        return {}
    out: dict[str, OAuth2Client] = {}
    allowed = list(OAuth2ClientSpec.__annotations__)
    for name, c in spec.items():
        path = f"oauth2_clients[{name!r}]"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
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
                    if g == "client_credentials"
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
    path: str, c: Mapping[str, Any], issues: _Issues
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


def _post_logout_redirect_uris(client_path: str, uris: object, issues: _Issues) -> tuple[str, ...]:
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


DEFAULT_ORGANIZATION_ROLES: Mapping[str, tuple[str, ...]] = {"admin": (), "member": ()}
_PERMISSION = re.compile(r"^org:[a-z0-9_-]{1,64}:[a-z0-9_-]{1,64}\Z")


def _organization_roles(spec: object, issues: _Issues) -> dict[str, tuple[str, ...]]:
    """Clerk-style roles: ``{"admin": ["org:reports:delete", ...], "member": [...]}``."""
    if not isinstance(spec, Mapping) or not spec:
        issues.add("organization_roles", "expected {role: [permission, ...]} with one role or more")
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for role, permissions in spec.items():
        path = f"organization_roles[{role!r}]"
        if not isinstance(role, str) or not _NAME.match(role):
            issues.add(path, "role names use lower-case letters, digits, '-' and '_'")
            continue
        if isinstance(permissions, str) or not isinstance(permissions, Sequence):
            issues.add(path, "expected a list of permissions such as 'org:reports:read'")
            continue
        for i, permission in enumerate(permissions):
            if not isinstance(permission, str) or not _PERMISSION.match(permission):
                issues.add(
                    f"{path}[{i}]",
                    f"{permission!r} is not a permission: use 'org:<feature>:<action>'",
                )
        out[role] = tuple(dict.fromkeys(p for p in permissions if isinstance(p, str)))
    return out


def define_auth(
    name: str,
    *,
    user_profile: UserProfileSpec | None = None,
    machine_user_attributes: Mapping[str, Field] | None = None,
    machine_users: Mapping[str, MachineUserSpec] | None = None,
    oauth2_clients: Mapping[str, OAuth2ClientSpec] | None = None,
    id_provider: IdProvider | None = None,
    organization_roles: Mapping[str, Sequence[str]] | None = None,
    connections: Sequence[ConnectionProvider] | None = None,
) -> Auth[str]:
    """Define the app's auth service. Raises :class:`ConfigError` listing every mistake."""
    issues = _Issues()
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        issues.add("define_auth.name", "use lower-case letters, digits, '-' and '_'")
    profile: UserProfile | None = None
    attribute_fields: dict[str, Field] = {}
    source = "machine_user_attributes"
    if user_profile is not None and machine_user_attributes is not None:
        issues.add(
            "machine_user_attributes",
            "cannot be used together with user_profile (attributes come from the profile)",
        )
    elif user_profile is not None:
        profile, attribute_fields = _profile(user_profile, issues)
        source = "user_profile.attributes"
    elif machine_user_attributes is not None:
        attribute_fields = _machine_user_attributes(machine_user_attributes, issues)
    list_fields = profile.attribute_list if profile else ()
    mus = _machine_users(machine_users or {}, attribute_fields, list_fields, source, issues)
    clients = _oauth2_clients(oauth2_clients or {}, issues)
    roles = _organization_roles(
        DEFAULT_ORGANIZATION_ROLES if organization_roles is None else organization_roles, issues
    )
    if id_provider is not None and not isinstance(id_provider, IdProvider):
        issues.add("id_provider", "expected idp.provider(name, client)")
    elif id_provider is not None:
        fields = profile.type.fields if profile else None
        username_field = profile.username_field if profile else None
        issues.items.extend(id_provider.profile_issues(fields, username_field))
    providers = _connections(connections, id_provider, issues)
    if issues.items:
        raise ConfigError(issues.items)
    return Auth(
        name=name,
        user_profile=profile,
        attribute_fields=MappingProxyType(attribute_fields),
        attribute_list_fields=list_fields,
        machine_users=MappingProxyType(mus),
        oauth2_clients=MappingProxyType(clients),
        id_provider=id_provider,
        organization_roles=MappingProxyType(roles),
        connections=MappingProxyType(providers),
    )


def _connections(
    spec: object, id_provider: IdProvider | None, issues: _Issues
) -> dict[str, ConnectionProvider]:
    if spec is None:
        return {}
    if isinstance(spec, str | Mapping) or not isinstance(spec, Sequence):
        issues.add("connections", "expected a list of connection.oauth(...) providers")
        return {}
    out: dict[str, ConnectionProvider] = {}
    for i, provider in enumerate(spec):
        if not isinstance(provider, ConnectionProvider):
            issues.add(f"connections[{i}]", "expected connection.oauth(...) or a preset")
            continue
        path = f"connections[{provider.name!r}]"
        if provider.name in out:
            issues.add(path, "is defined twice")
            continue
        if provider.id_provider is not None and (
            id_provider is None or id_provider.name != provider.id_provider
        ):
            issues.add(
                f"{path}.id_provider",
                f"the app has no id_provider named {provider.id_provider!r}",
            )
            continue
        out[provider.name] = provider
    return out
