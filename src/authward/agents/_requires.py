"""``@requires``: authorize a tool call against the acting principal's attributes.

Where each requirement is read (the attribute names of the default token mapping):

    permission      attributes["permissions"]                         e.g. "org:tools:run"
    scope           attributes["scopes"] and the space-separated attributes["scope"]
    role            attributes["role"] and attributes["orgRole"]
    principal_type  principal.principal_type                          "user" or "machine"
    attribute       attributes[name]: equal to a string/boolean value, or containing it when the
                    attribute is a list

Every value given is required. A refusal raises ``Forbidden`` naming each unmet requirement and,
for it, the principal's values of that attribute only; no principal raises
``UnauthenticatedError``. The check runs when the tool is called (awaited, for async tools), in
the caller's context.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar, cast, get_args

from authward.agents._context import UNAUTHENTICATED
from authward.errors import Forbidden, UnauthenticatedError
from authward.principal import AttributeValue, Principal, PrincipalType, current_principal

P = ParamSpec("P")
R = TypeVar("R")

Required = str | Collection[str]
RequiredValue = str | bool | Collection[str]

_PRINCIPAL_TYPES: tuple[str, ...] = get_args(PrincipalType)
_SHOWN = 20  # at most this many of the principal's values are echoed in a message


class ToolDecorator(Protocol):
    def __call__(self, fn: Callable[P, R], /) -> Callable[P, R]: ...


def _strings(kind: str, value: Required | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items:
        raise ValueError(f"requires({kind}=...) needs at least one value")
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"requires({kind}=...) values must be non-empty strings, got {item!r}")
    return tuple(dict.fromkeys(items))


def _attribute_values(name: str, value: RequiredValue) -> tuple[str | bool, ...]:
    if isinstance(value, str | bool):
        return (value,)
    items = tuple(value)
    if not items or not all(isinstance(v, str | bool) for v in items):
        raise ValueError(
            f"requires(attribute={{{name!r}: ...}}) needs a string, a boolean or a non-empty "
            "collection of them"
        )
    return tuple(dict.fromkeys(items))


def _held(attributes: Mapping[str, AttributeValue], *names: str, split: bool = False) -> set[str]:
    """The principal's string values under ``names`` (a string is one value, or split on spaces)."""
    held: set[str] = set()
    for name in names:
        value = attributes.get(name)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, str):
            held.update(value.split() if split else (value,))
        else:
            held.update(v for v in value if isinstance(v, str))
    return held


def _show(values: Collection[str | bool]) -> str:
    shown = sorted(str(v) for v in values)
    if not shown:
        return "none"
    more = len(shown) - _SHOWN
    text = ", ".join(shown[:_SHOWN])
    return f"{text}, … ({more} more)" if more > 0 else text


def _quote(values: Collection[str | bool]) -> str:
    return ", ".join(repr(v) for v in values)


@dataclass(frozen=True, slots=True)
class _Requirements:
    permissions: tuple[str, ...]
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    principal_types: tuple[str, ...]
    attributes: tuple[tuple[str, tuple[str | bool, ...]], ...]

    def check(self, tool: str, *, what: str = "tool") -> None:
        """Check the current principal; ``what`` names the guarded thing in messages."""
        self.check_principal(current_principal(), f"{what} {tool!r}")

    def check_principal(self, principal: Principal | None, subject: str) -> Principal:
        if principal is None:
            raise UnauthenticatedError(
                code=UNAUTHENTICATED,
                message=f"{subject} requires an authenticated principal, and there is none",
            )
        missing: list[str] = []
        clauses: list[str] = []
        self._check_principal(principal, missing, clauses)
        if clauses:
            held = _held(principal.attributes, "scopes", "scope", split=True)
            raise Forbidden(
                f"{subject} requires " + " and ".join(clauses),
                missing=tuple(missing),
                scopes=tuple(s for s in self.scopes if s not in held),
            )
        return principal

    def _check_principal(self, p: Principal, missing: list[str], clauses: list[str]) -> None:
        attrs = p.attributes
        sets = (
            ("principal type", "principal types", self.principal_types, {p.principal_type}),
            ("role", "roles", self.roles, _held(attrs, "role", "orgRole")),
            ("permission", "permissions", self.permissions, _held(attrs, "permissions")),
            ("scope", "scopes", self.scopes, _held(attrs, "scopes", "scope", split=True)),
        )
        for one, many, required, held in sets:
            unmet = [r for r in required if r not in held]
            if unmet:
                missing.extend(f"{one} {r!r}" for r in unmet)
                label = one if len(unmet) == 1 else many
                clauses.append(f"{label} {_quote(unmet)} (principal has: {_show(held)})")
        for name, wanted in self.attributes:
            value = attrs.get(name)
            have: tuple[str | bool, ...] = (
                value if isinstance(value, tuple) else () if value is None else (value,)
            )
            unmet_values = [w for w in wanted if not _has(have, w)]
            if unmet_values:
                missing.extend(f"attribute {name}={w!r}" for w in unmet_values)
                clauses.append(
                    f"attribute {name}={_quote(unmet_values)} (principal has: {_show(have)})"
                )


def _has(have: tuple[str | bool, ...], wanted: str | bool) -> bool:
    """Exact match of value and kind: ``True`` never matches ``"True"``."""
    return any(type(h) is type(wanted) and h == wanted for h in have)


def requirements(
    *,
    permission: Required | None = None,
    scope: Required | None = None,
    role: Required | None = None,
    principal_type: Required | None = None,
    attribute: Mapping[str, RequiredValue] | None = None,
) -> _Requirements:
    """Checked requirements, shared by ``@requires`` and the HTTP guards of authward.channel."""
    types = _strings("principal_type", principal_type)
    unknown = [t for t in types if t not in _PRINCIPAL_TYPES]
    if unknown:
        raise ValueError(
            f"requires(principal_type=...) must be one of {_quote(_PRINCIPAL_TYPES)}, "
            f"got {_quote(unknown)}"
        )
    if len(types) > 1:
        raise ValueError(
            f"requires(principal_type={types!r}) can never be met: a principal has one type"
        )
    if attribute is not None and not isinstance(attribute, Mapping):
        raise ValueError("requires(attribute=...) takes a mapping of attribute name to value")
    return _Requirements(
        permissions=_strings("permission", permission),
        scopes=_strings("scope", scope),
        roles=_strings("role", role),
        principal_types=types,
        attributes=tuple(
            (name, _attribute_values(name, value)) for name, value in (attribute or {}).items()
        ),
    )


#: The requirements each ``@requires`` wrapper checks, for :func:`required_scopes`.
_CHECKED: weakref.WeakKeyDictionary[Callable[..., Any], _Requirements] = weakref.WeakKeyDictionary()


def required_scopes(fn: Callable[..., Any]) -> tuple[str, ...]:
    """The scopes ``fn``'s ``@requires`` decorators (any depth of ``functools.wraps``) need, so
    a transport can ask for them before the call (the MCP integration's step-up challenge)."""
    scopes: list[str] = []
    seen: set[int] = set()
    current: Any = fn
    while callable(current) and id(current) not in seen:
        seen.add(id(current))
        try:
            checks = _CHECKED.get(current)
        except TypeError:  # not weakly referenceable: no @requires of ours
            checks = None
        if checks is not None:
            scopes.extend(s for s in checks.scopes if s not in scopes)
        current = getattr(current, "__wrapped__", None)
    return tuple(scopes)


def requires(
    *,
    permission: Required | None = None,
    scope: Required | None = None,
    role: Required | None = None,
    principal_type: Required | None = None,
    attribute: Mapping[str, RequiredValue] | None = None,
) -> ToolDecorator:
    """Decorate a tool (sync or async) so it only runs for a principal meeting every requirement.

    With no arguments it only requires an authenticated principal. Mistakes in the requirements
    themselves (empty values, an unknown or impossible principal type) raise ``ValueError`` when
    the tool is decorated, not when it is called.
    """
    checks = requirements(
        permission=permission,
        scope=scope,
        role=role,
        principal_type=principal_type,
        attribute=attribute,
    )

    def decorate(fn: Callable[P, R], /) -> Callable[P, R]:
        tool = getattr(fn, "__name__", None) or repr(fn)

        if inspect.iscoroutinefunction(fn):
            async_fn = cast(Callable[..., Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                checks.check(tool)
                return await async_fn(*args, **kwargs)

            _CHECKED[guarded_async] = checks
            return cast(Callable[P, R], guarded_async)

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            checks.check(tool)
            return fn(*args, **kwargs)

        _CHECKED[guarded] = checks
        return guarded

    return decorate
