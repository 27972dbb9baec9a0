"""``define_auth``: the app's one auth service, validated as a whole when the app is loaded.

Every rule is enforced here and every refusal names the path that is wrong, e.g.
``machine_users['admin-machine-user'].attributes.role: required by user_profile.attributes``.
"""

from __future__ import annotations

__all__ = [
    "ID_TOKEN_ALGS",
    "Auth",
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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, Literal, Required, TypedDict, TypeVar
from uuid import UUID

from typing_extensions import ReadOnly

from authward.config.clients import (
    ID_TOKEN_ALGS,
    IdTokenAlg,
    OAuth2Client,
    OAuth2ClientSpec,
    parse_oauth2_clients,
)
from authward.config.connection import ConnectionProvider
from authward.config.db import DbType
from authward.config.fields import TEMPORAL_KINDS, VALUE_OPERAND_KINDS, Field, enum_problem
from authward.config.idp import IdProvider
from authward.config.issues import NAME, Issues
from authward.config.opened import OPENED, AuthUsers
from authward.config.registration import (
    DynamicRegistration,
    Registration,
    parse_dynamic_registration,
)
from authward.config.resources import ResourceServer, ResourceServerSpec, parse_resource_servers
from authward.errors import ConfigError
from authward.principal import AttributeValue


class UserProfileSpec(TypedDict, total=False):
    type: Required[DbType]
    username_field: Required[str]
    attributes: Mapping[str, Literal[True]]
    attribute_list: Sequence[str]


class MachineUserSpec(TypedDict, total=False):
    # ReadOnly, and ``object`` values: the precise TypedDicts of ``authward generate`` fit it.
    attributes: ReadOnly[Mapping[str, object]]
    attribute_list: ReadOnly[Sequence[str | UUID]]


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


NameT_contra = TypeVar("NameT_contra", bound=str, contravariant=True)


@dataclass(frozen=True, slots=True)
class Invoker:
    """A checked reference to a machine user whose permissions a job run uses."""

    auth_name: str
    machine_user: str


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
    #: The resource servers tokens may be issued for (RFC 8707), by name.
    resource_servers: Mapping[str, ResourceServer] = field(
        default_factory=lambda: MappingProxyType({})
    )
    #: RFC 7591 registration (``None``: off, the default; decision 049).
    dynamic_registration: Registration | None = None

    @property
    def users(self) -> AuthUsers:
        """The users of the runtime that opened this config, as the seed's resolver reads them:
        ``await auth.users.get_oauth_access_token(account_id, "oauth_slack")``."""
        serving = OPENED.users(self)
        if serving is None:
            raise ConfigError(
                f"auth {self.name!r} is not open: auth.users works once Authward.open(config) "
                "(or `authward serve` / `authward worker`) has opened the app"
            )
        return serving

    def invoker(self, name: NameT_contra) -> Invoker:
        if name not in self.machine_users:
            known = ", ".join(sorted(self.machine_users)) or "none are defined"
            raise ConfigError(f"no machine user {name!r} in auth {self.name!r} (known: {known})")
        return Invoker(self.name, name)


def _label(field_name: str, f: Field) -> str:
    return f"{field_name} ({f.type_label})"


def _profile(spec: object, issues: Issues) -> tuple[UserProfile | None, dict[str, Field]]:
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


def _machine_user_attributes(spec: object, issues: Issues) -> dict[str, Field]:
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


def _attribute_value(path: str, f: Field, value: object, issues: Issues) -> AttributeValue | None:
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
    issues: Issues,
) -> dict[str, MachineUser]:
    if not isinstance(spec, Mapping):
        issues.add("machine_users", "expected {name: {attributes: {...}}, ...}")
        return {}
    out: dict[str, MachineUser] = {}
    for name, mu in spec.items():
        path = f"machine_users[{name!r}]"
        if not isinstance(name, str) or not NAME.fullmatch(name):
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
    path: str, given: object, list_fields: tuple[str, ...], issues: Issues
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


DEFAULT_ORGANIZATION_ROLES: Mapping[str, tuple[str, ...]] = {"admin": (), "member": ()}
_PERMISSION = re.compile(r"^org:[a-z0-9_-]{1,64}:[a-z0-9_-]{1,64}\Z")


def _organization_roles(spec: object, issues: Issues) -> dict[str, tuple[str, ...]]:
    """Clerk-style roles: ``{"admin": ["org:reports:delete", ...], "member": [...]}``."""
    if not isinstance(spec, Mapping) or not spec:
        issues.add("organization_roles", "expected {role: [permission, ...]} with one role or more")
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for role, permissions in spec.items():
        path = f"organization_roles[{role!r}]"
        if not isinstance(role, str) or not NAME.match(role):
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
    resource_servers: Mapping[str, ResourceServerSpec] | None = None,
    dynamic_registration: DynamicRegistration | None = None,
) -> Auth[str]:
    """Define the app's auth service. Raises :class:`ConfigError` listing every mistake."""
    issues = Issues()
    if not isinstance(name, str) or not NAME.fullmatch(name):
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
    clients = parse_oauth2_clients(oauth2_clients or {}, issues)
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
    resources = parse_resource_servers(resource_servers or {}, issues)
    registration = parse_dynamic_registration(dynamic_registration, issues)
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
        resource_servers=MappingProxyType(resources),
        dynamic_registration=registration,
    )


def _connections(
    spec: object, id_provider: IdProvider | None, issues: Issues
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
