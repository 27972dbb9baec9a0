"""OAuth 2.0 Protected Resource Metadata (RFC 9728) of a declared resource server.

§3.1: the metadata of resource ``https://host/path`` is at
``https://host/.well-known/oauth-protected-resource/path`` (the well-known name goes between the
host and the path; a resource without a path has it at ``/.well-known/oauth-protected-resource``).
§2: what it says, every value something this server really does.
"""

from __future__ import annotations

__all__ = ["WELL_KNOWN", "metadata_path", "metadata_url", "protected_resource_metadata"]

from typing import Any
from urllib.parse import urlsplit

from authward.oauth.dpop import ALGORITHMS as DPOP_ALGORITHMS
from authward.oauth.resources import Resource

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def metadata_path(resource_url: str) -> str:
    """The path of the resource's metadata on its own origin (§3.1)."""
    path = urlsplit(resource_url).path
    return WELL_KNOWN + (path if path != "/" else "")


def metadata_url(resource_url: str) -> str:
    """Where a client fetches the resource's metadata: ``resource_metadata`` in a challenge."""
    parts = urlsplit(resource_url)
    return f"{parts.scheme}://{parts.netloc}{metadata_path(resource_url)}"


def protected_resource_metadata(resource: Resource, issuer: str) -> dict[str, Any]:
    """§2: the resource, the one authorization server that issues its tokens, its scopes, how
    tokens are presented (the ``Authorization`` header only, RFC 6750 §2.1) and whether they
    must be DPoP-bound (RFC 9449 §5.2)."""
    document: dict[str, Any] = {
        "resource": resource.url,
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],
        "resource_name": resource.resource_name,
        # authward's chain entries check DPoP proofs (docs/dpop.md).
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "dpop_bound_access_tokens_required": resource.require_dpop,
    }
    if resource.scopes:
        document["scopes_supported"] = list(resource.scopes)
    return document
