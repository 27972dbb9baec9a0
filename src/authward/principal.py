"""The Principal: who is acting, as what, with which attributes.

Written once at the edge (a request's auth chain, a job's invoker) and read everywhere through a
context variable, so instructions, tools, jobs and auth resolvers all see the same answer.
"""

from __future__ import annotations

__all__ = [
    "AttributeValue",
    "BuildsPrincipal",
    "Principal",
    "current_principal",
    "use_principal",
]

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal
from uuid import UUID

AttributeValue = str | bool | tuple[str, ...] | tuple[bool, ...]
PrincipalType = Literal["user", "machine"]


def _freeze_value(name: str, value: object) -> AttributeValue:
    if isinstance(value, str | bool):
        return value
    if isinstance(value, list | tuple):
        items = tuple(value)
        if all(isinstance(v, str) for v in items):
            return tuple(str(v) for v in items)
        if all(isinstance(v, bool) for v in items):
            return tuple(bool(v) for v in items)
    raise TypeError(f"attribute {name!r} must be a string, a boolean or a list of one of them")


@dataclass(frozen=True, slots=True)
class Principal:
    authenticator: str
    principal_type: PrincipalType
    principal_id: str
    subject: str
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    attribute_list: tuple[UUID, ...] = ()

    def __post_init__(self) -> None:
        frozen = {k: _freeze_value(k, v) for k, v in self.attributes.items()}
        object.__setattr__(self, "attributes", MappingProxyType(frozen))
        object.__setattr__(
            self,
            "attribute_list",
            tuple(v if isinstance(v, UUID) else UUID(str(v)) for v in self.attribute_list),
        )

    def __hash__(self) -> int:
        # The attribute map is a read-only view, which does not hash; its sorted items do.
        return hash(
            (
                self.authenticator,
                self.principal_type,
                self.principal_id,
                self.subject,
                tuple(sorted(self.attributes.items())),
                self.attribute_list,
            )
        )


class BuildsPrincipal:
    """For a frozen auth object (API key, M2M token, session...) that maps to one Principal:
    built once, on first use, then handed out again (the object lives in a verification cache).
    Subclasses declare ``_principal: Principal | None = field(default=None, init=False)``."""

    __slots__ = ()
    _principal: Principal | None

    def _build_principal(self) -> Principal:
        raise NotImplementedError

    def to_principal(self) -> Principal:
        if self._principal is None:
            object.__setattr__(self, "_principal", self._build_principal())
        assert self._principal is not None
        return self._principal


_current: ContextVar[Principal | None] = ContextVar("authward_principal", default=None)


def current_principal() -> Principal | None:
    """The principal the current task acts as, or ``None`` when nobody is authenticated."""
    return _current.get()


class use_principal:  # lower-case: it reads like a function, ``with use_principal(p):``
    """Act as ``principal`` inside the block; the previous principal is restored after it.

    A class rather than a ``@contextmanager`` generator: it runs on every authenticated request.
    """

    __slots__ = ("_principal", "_token")

    def __init__(self, principal: Principal | None) -> None:
        self._principal = principal

    def __enter__(self) -> Principal | None:
        self._token = _current.set(self._principal)
        return self._principal

    def __exit__(self, *_: object) -> None:
        _current.reset(self._token)
