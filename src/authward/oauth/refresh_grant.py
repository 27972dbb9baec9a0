"""How long a refresh grant lives (RFC 9700 §4.14, ASVS 10.4.8) and when a rotated-out refresh
token may be presented again (docs/decisions/012).

- *Idle lifetime* (``refresh_token_lifetime_seconds``): each refresh token lives this long from
  its rotation, so a client that stops refreshing loses the grant.
- *Absolute lifetime* (``refresh_token_absolute_lifetime_seconds``): the grant, every token of
  one authorization's rotation chain, ends this long after the user's authorization, however
  often it rotates. No refresh token outlives it, so the store's ``expires_at`` check refuses
  the last one without knowing about grants.
- *Rotation grace* (``refresh_token_rotation_grace_seconds``): for this long after a rotation,
  the token rotated out may be presented again as long as its successor was never used: the
  client lost the answer. The retry rotates again and the first answer's tokens stop working;
  after the window, or once the successor was used, the old token is a replay.
"""

from __future__ import annotations

__all__ = [
    "RefreshChain",
    "RefreshPolicy",
    "bound_key",
    "chain_of",
    "in_grace",
    "narrowed_scopes",
    "refresh_policy",
]

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authward.oauth.clients import Client
from authward.oauth.dpop import DpopProof
from authward.oauth.errors import InvalidDpopProof, InvalidScope
from authward.oauth.scopes import SUPPORTED_SCOPES, parse_scope
from authward.store.grants import PARENT, GrantRow, NewGrant
from authward.tokens import opaque


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """One client's refresh-token lifetimes, its own or the instance's defaults."""

    idle_seconds: int
    absolute_seconds: int
    grace_seconds: int


def refresh_policy(client: Client, defaults: RefreshPolicy) -> RefreshPolicy:
    """``client``'s own values, else the instance's ``defaults`` (settings)."""
    own_grace = client.refresh_token_rotation_grace_seconds
    return RefreshPolicy(
        idle_seconds=client.refresh_token_lifetime_seconds or defaults.idle_seconds,
        absolute_seconds=(
            client.refresh_token_absolute_lifetime_seconds or defaults.absolute_seconds
        ),
        grace_seconds=defaults.grace_seconds if own_grace is None else own_grace,
    )


@dataclass(frozen=True, slots=True)
class RefreshChain:
    """Where the next refresh token of a grant goes: when the grant ends, and which token it
    rotates out (none for the first, issued with the code)."""

    policy: RefreshPolicy
    end: datetime
    parent: str | None

    def retry_since(self, now: datetime) -> datetime | None:
        """A token this chain rotates out may be retried if it was used since then."""
        if self.parent is None or self.policy.grace_seconds == 0:
            return None
        return now - timedelta(seconds=self.policy.grace_seconds)

    def next_grant(
        self,
        token: str,
        *,
        family_id: str,
        client_id: str,
        subject: str,
        data: Mapping[str, Any],
        access: tuple[str, int],
        now: datetime,
    ) -> NewGrant:
        """The row of refresh token ``token``, issued at ``now`` with the access token
        ``access`` (its ``jti`` and ``exp``, revoked if a retry takes this token's place)."""
        return NewGrant(
            digest=opaque.digest(token),
            kind="refresh",
            family_id=family_id,
            client_id=client_id,
            subject=subject,
            data={
                **data,
                "grant_exp": self.end.isoformat(),
                PARENT: self.parent,
                "access": list(access),
            },
            expires_at=min(now + timedelta(seconds=self.policy.idle_seconds), self.end),
        )


def chain_of(row: GrantRow, policy: RefreshPolicy, now: datetime) -> RefreshChain:
    """The chain that ``row`` (a code being redeemed, or a refresh token) continues."""
    if row.kind == "code":
        # The code was issued when the user authorized the client: the grant starts there.
        return RefreshChain(
            policy, row.created_at + timedelta(seconds=policy.absolute_seconds), None
        )
    stored = row.data.get("grant_exp")
    # A token issued before grants had an end starts its grant's clock now.
    end = (
        datetime.fromisoformat(str(stored))
        if stored is not None
        else now + timedelta(seconds=policy.absolute_seconds)
    )
    return RefreshChain(policy, end, row.digest)


def in_grace(row: GrantRow, now: datetime, policy: RefreshPolicy) -> bool:
    """Whether ``row``, a used refresh token, was rotated out recently enough to be retried.
    The store still decides (atomically) whether its successor is unused."""
    return (
        row.used_at is not None
        and row.revoked_at is None
        and row.expires_at > now
        and now - row.used_at < timedelta(seconds=policy.grace_seconds)
    )


def narrowed_scopes(granted: tuple[str, ...], form: Mapping[str, str]) -> tuple[str, ...]:
    """RFC 6749 §6: ``scope`` may narrow the grant, never widen it."""
    if "scope" not in form:
        return granted
    # A resource's own scopes (RFC 8707) are known to the grant that holds them.
    scopes = parse_scope(form["scope"], allowed=(*SUPPORTED_SCOPES, *granted))
    wider = [s for s in scopes if s not in granted]
    if wider:
        raise InvalidScope(f"scope may not go beyond the grant: {' '.join(wider)}")
    return scopes


def bound_key(row: GrantRow, proof: DpopProof | None) -> str | None:
    """The DPoP key refresh token ``row`` is bound to, if any, which ``proof`` must be of:
    RFC 9449 §5, a public client's refresh token works only with its key."""
    bound = row.data.get("jkt")
    if bound is not None:
        if proof is None:
            raise InvalidDpopProof("this refresh token is bound to a DPoP key")
        if not hmac.compare_digest(proof.jkt.encode(), str(bound).encode()):
            raise InvalidDpopProof("the DPoP proof's key is not the refresh token's")
    return None if bound is None else str(bound)
