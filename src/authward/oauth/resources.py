"""Resource indicators (RFC 8707): the resource servers tokens may be issued for.

:class:`Resources` holds the app's ``resource_servers`` with their identifiers resolved against
the issuer. The authorization and token endpoints read the ``resource`` parameter through it:

- one ``resource`` per request; an undeclared one is ``invalid_target`` (§2);
- a resource's own scopes are granted only with it; the server's scopes (``openid``,
  ``profile``, ``email``, ``offline_access``) go with any resource;
- the grant keeps the resource it was authorized for: a refresh or a code redemption may name
  it again (or leave it out), never another (``invalid_target``);
- an access token issued for a resource has it as its only ``aud``, the resource's lifetime and,
  when it requires DPoP, is issued only with a proof.
"""

from __future__ import annotations

__all__ = ["Resource", "Resources", "consent_scopes", "requested_resource", "scopes_for"]

from collections.abc import Iterable
from dataclasses import dataclass

from authward.config.resources import ResourceServer, resolve_resource_url
from authward.oauth.errors import InvalidTarget
from authward.oauth.scopes import SUPPORTED_SCOPES, parse_scope


@dataclass(frozen=True, slots=True)
class Resource:
    """A declared resource server, its identifier resolved."""

    name: str
    #: The resource identifier: the ``resource`` parameter's value and the tokens' ``aud``.
    url: str
    scopes: tuple[str, ...]
    access_token_lifetime_seconds: int | None
    require_dpop: bool
    resource_name: str


class Resources:
    """The app's resource servers, by identifier and by name."""

    def __init__(self, declared: Iterable[ResourceServer], issuer: str) -> None:
        self.by_name: dict[str, Resource] = {}
        self.by_url: dict[str, Resource] = {}
        for r in declared:
            resource = Resource(
                name=r.name,
                url=resolve_resource_url(r.url, issuer),
                scopes=r.scopes,
                access_token_lifetime_seconds=r.access_token_lifetime_seconds,
                require_dpop=r.require_dpop,
                resource_name=r.resource_name,
            )
            self.by_name[r.name] = resource
            self.by_url[resource.url] = resource

    def __bool__(self) -> bool:
        return bool(self.by_url)

    def find(self, name_or_url: str) -> Resource | None:
        """The resource declared under this name, else with this identifier."""
        return self.by_name.get(name_or_url) or self.by_url.get(name_or_url)

    def requested(self, value: str | None) -> Resource | None:
        """The resource a request names (``None`` when it names none), or ``invalid_target``."""
        if value is None:
            return None
        found = self.by_url.get(value)
        if found is None:
            raise InvalidTarget(
                f"{value[:200]!r} is not a resource server of this authorization server"
            )
        return found


def requested_resource(
    resources: Resources, value: str | None, granted: str | None
) -> Resource | None:
    """The resource a token request may be for, given the one its grant holds: naming it again
    or leaving it out keeps it; naming another (or any, for a grant without one) is refused."""
    if value is None:
        return resources.by_url.get(granted) if granted is not None else None
    if value != granted:
        raise InvalidTarget("the grant was not authorized for this resource")
    found = resources.by_url.get(value)
    if found is None:
        # Declared when the grant was made, and no longer.
        raise InvalidTarget("this resource is no longer a resource server here")
    return found


def scopes_for(value: str | None, resource: Resource | None) -> tuple[str, ...]:
    """The distinct scopes of a ``scope`` parameter sent with ``resource`` (or with none):
    ``invalid_scope`` for a scope neither the server nor that resource has."""
    allowed = SUPPORTED_SCOPES if resource is None else (*SUPPORTED_SCOPES, *resource.scopes)
    return parse_scope(value, allowed=allowed)


def consent_scopes(scopes: tuple[str, ...], resource: Resource | None) -> tuple[str, ...]:
    """What a user's consent to ``scopes`` for ``resource`` is remembered as: the server's own
    scopes as they are, the resource (its identifier) and each of its scopes qualified by it
    (``<url>#<scope>``; identifiers have no fragment), so consent to one resource never covers
    another's scopes of the same name."""
    if resource is None:
        return scopes
    own = tuple(s for s in scopes if s in SUPPORTED_SCOPES)
    theirs = tuple(f"{resource.url}#{s}" for s in scopes if s not in SUPPORTED_SCOPES)
    return (*own, resource.url, *theirs)
