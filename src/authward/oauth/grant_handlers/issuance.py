"""What the grants that redeem a stored grant share: checking the presented code or refresh
token, redeeming it once, minting what it issues (access, refresh and ID tokens) and recording
it; and the machine-user access token ``client_credentials`` issues.

A redeemed grant's replay revokes what was issued from it (RFC 6749 §4.1.2, RFC 9700 §4.2.4 and
§4.14.2); within the client's rotation grace a refresh token may be retried instead
(oauth/refresh_grant.py).
"""

from __future__ import annotations

__all__ = ["ID_TOKEN_TYP", "REFRESH_PREFIX", "AuditNote", "Issuance", "Issue"]

import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authward.config.auth import IdTokenAlg
from authward.oauth import refresh_grant
from authward.oauth.clients import Client
from authward.oauth.dpop import DpopProof
from authward.oauth.errors import InvalidDpopProof, InvalidGrant
from authward.oauth.grant_handlers.base import (
    ProofChecker,
    TokenRequest,
    TokenResponse,
    TokenTarget,
    UserDirectory,
)
from authward.oauth.id_token import IdTokenInput, id_token_claims, scoped_claims
from authward.oauth.ports import AuditLog, GrantStorePort
from authward.oauth.resources import Resource
from authward.oauth.scopes import OFFLINE_ACCESS, OPENID
from authward.store.audit import AuditEvent
from authward.store.grants import GrantRow, NewGrant
from authward.store.records import StoredMachineUser
from authward.tokens import opaque
from authward.tokens.access_token import AccessTokenClaims, sign_access_token
from authward.tokens.jwt import sign_jwt
from authward.tokens.keys import SigningKey

REFRESH_PREFIX = "awrt_"
ID_TOKEN_TYP = "JWT"  # noqa: S105 - a JOSE header value, not a secret


@dataclass(frozen=True, slots=True)
class _Minted:
    body: dict[str, Any]
    jti: str
    rows: list[NewGrant]


@dataclass(frozen=True, slots=True)
class Issue:
    """What a redeemed grant issues, besides what the endpoint adds (key, family, time)."""

    user: Any
    scopes: tuple[str, ...]
    proof: DpopProof | None
    auth_time: int
    session_id: str | None
    nonce: str | None
    #: The DPoP key the grant's refresh token is already bound to, if any.
    refresh_jkt: str | None
    #: Where the next refresh token goes: its grant's end, the token it rotates out.
    chain: refresh_grant.RefreshChain
    #: The scopes the next refresh token keeps, when wider than ``scopes``.
    refresh_scopes: tuple[str, ...] | None = None
    #: The resource server the grant is for (RFC 8707): the access token's ``aud``.
    resource: Resource | None = None


@dataclass(frozen=True, slots=True)
class AuditNote:
    """The event a redemption records; the issued access token's ``jti`` is added to
    ``detail``."""

    event: str
    subject: str
    detail: Mapping[str, Any]


#: What each grant kind is called in error descriptions.
_WHAT: Mapping[str, str] = {"code": "authorization code", "refresh": "refresh token"}


def _now() -> datetime:
    return datetime.now(UTC)


def _access_row(family_id: str, client_id: str, subject: str, jti: str, exp: int) -> NewGrant:
    return NewGrant(
        digest=opaque.digest("jti:" + jti),
        kind="access",
        family_id=family_id,
        client_id=client_id,
        subject=subject,
        data={"jti": jti},
        expires_at=datetime.fromtimestamp(exp, UTC),
    )


class Issuance:
    """The token endpoint's shared machinery, built once and handed to every grant handler."""

    def __init__(
        self,
        *,
        target: TokenTarget,
        grants: GrantStorePort,
        signer: Callable[[], Awaitable[SigningKey]],
        id_token_signer: Callable[[IdTokenAlg], Awaitable[SigningKey]],
        users: UserDirectory,
        dpop: ProofChecker,
        audit: AuditLog,
        revoke_family: Callable[[str, str], Awaitable[None]],
        revoke_access: Callable[[str, datetime, str], Awaitable[None]],
    ) -> None:
        self.target = target
        self._grants = grants
        self._signer = signer
        self._id_token_signer = id_token_signer
        self._users = users
        self._dpop = dpop
        self._audit = audit
        self._revoke_family = revoke_family
        self._revoke_access = revoke_access

    async def proof(self, client: Client, request: TokenRequest) -> DpopProof | None:
        if request.dpop is None:
            if client.require_dpop:
                # RFC 9449 §5: such a client never gets an unbound token.
                raise InvalidDpopProof("this client must send a DPoP proof")
            return None
        return await self._dpop.verify(request.dpop, method="POST", url=request.url)

    @staticmethod
    def check_resource(resource: Resource | None, proof: DpopProof | None) -> None:
        """A resource that accepts only DPoP-bound tokens never gets an unbound one."""
        if resource is not None and resource.require_dpop and proof is None:
            raise InvalidDpopProof(f"tokens for {resource.url} are DPoP-bound: send a DPoP proof")

    async def machine_user_token(
        self,
        mu: StoredMachineUser,
        lifetime: int,
        *,
        audience: str | None = None,
        cnf_jkt: str | None = None,
    ) -> str:
        """An RFC 9068 access token acting as machine user ``mu``."""
        issued = int(time.time())
        claims = AccessTokenClaims(
            issuer=self.target.issuer,
            subject=str(mu.id),
            audience=audience or self.target.audience,
            client_id=mu.client_id,
            issued_at=issued,
            expires_at=issued + lifetime,
            attribute_map=mu.attributes,
            attributes=mu.attribute_list,
            cnf_jkt=cnf_jkt,
        )
        return sign_access_token(await self._signer(), claims.to_jwt_claims())

    async def live_row(
        self, credential: str, prefix: str, kind: str, client: Client, request: TokenRequest
    ) -> tuple[str, GrantRow]:
        """The digest and row of ``client``'s live grant ``credential``; a spent one is refused
        here (and a used one revokes its family) before anything else is checked, unless it
        is a refresh token retried within the client's rotation grace."""
        what = _WHAT[kind]
        if not opaque.is_well_formed(credential, prefix):
            raise InvalidGrant(f"the {what} is not valid")
        digest = opaque.digest(credential)
        row = await self._grants.get(digest)
        if row is None or row.kind != kind or row.client_id != client.client_id:
            raise InvalidGrant(f"the {what} is not valid")
        policy = self.refresh_policy(client)
        if kind != "refresh" or not refresh_grant.in_grace(row, _now(), policy):
            await self._refuse_spent(row, kind, request)
        return digest, row

    async def redeem(
        self,
        digest: str,
        kind: str,
        client: Client,
        request: TokenRequest,
        issue: Issue,
        audit: AuditNote,
    ) -> TokenResponse:
        """Redeem the grant once, recording what it issues in the same transaction, and audit
        the issue. Losing the race to another request makes this one the replay. Within the
        rotation grace a used refresh token is redeemed again in place of its unused successor,
        whose access token is revoked: the first answer stops working."""
        key = await self._signer()
        id_key = (
            await self._id_token_signer(client.id_token_alg) if OPENID in issue.scopes else None
        )
        now = _now()

        def mint(live: GrantRow) -> tuple[_Minted, list[NewGrant]]:
            minted = self._mint(key, id_key, client, live.family_id, issue, now)
            return minted, minted.rows

        since = issue.chain.retry_since(now)
        redeemed = await self._grants.redeem(digest, kind, now, mint, retry_since=since)
        if redeemed.value is None:
            if redeemed.row is not None:
                await self._refuse_spent(redeemed.row, kind, request)
            raise InvalidGrant(f"the {_WHAT[kind]} is not valid")
        detail = {**audit.detail, "jti": redeemed.value.jti}
        if redeemed.superseded is not None:
            jti, exp = redeemed.superseded.data["access"]
            await self._revoke_access(str(jti), datetime.fromtimestamp(exp, UTC), "refresh_retry")
            detail["retry"] = True
        await self._audit.record(
            AuditEvent(
                audit.event,
                now,
                subject=audit.subject,
                client_id=client.client_id,
                ip=request.ip,
                detail=detail,
            )
        )
        return redeemed.value.body

    async def _refuse_spent(self, row: GrantRow, kind: str, request: TokenRequest) -> None:
        """Refuse a used, revoked or expired grant; a used one is a replay, which revokes what
        was issued from it."""
        now = _now()
        if row.used_at is not None:
            event = "grant.code_reused" if kind == "code" else "grant.refresh_reused"
            await self._revoke_family(row.family_id, event)
            await self._audit.record(
                AuditEvent(
                    event,
                    now,
                    subject=row.subject,
                    client_id=row.client_id,
                    ip=request.ip,
                    detail={"family": row.family_id},
                )
            )
            raise InvalidGrant(f"the {_WHAT[kind]} was already used; its tokens are revoked")
        if row.revoked_at is not None:
            raise InvalidGrant("the grant has been revoked")
        if row.expires_at <= now:
            raise InvalidGrant("the grant has expired")

    async def user_claims(self, user_id: str) -> Any:
        account = await self._users.get(user_id)
        if account is None or account.disabled:
            raise InvalidGrant("the user no longer exists or is disabled")
        claims = await self._users.claims(user_id)
        if claims is None:
            raise InvalidGrant("the user no longer exists")
        return claims

    def refresh_policy(self, client: Client) -> refresh_grant.RefreshPolicy:
        return refresh_grant.refresh_policy(client, self.target.refresh_defaults)

    def _issues_refresh(self, client: Client, scopes: tuple[str, ...]) -> bool:
        """Decision 012: a refresh token when the client may refresh, and for OpenID requests
        only with ``offline_access`` (OIDC Core §11), as node-oidc-provider does."""
        if "refresh_token" not in client.grant_types:
            return False
        return OPENID not in scopes or OFFLINE_ACCESS in scopes

    def _mint(
        self,
        key: SigningKey,
        id_key: SigningKey | None,
        client: Client,
        family_id: str,
        issue: Issue,
        now: datetime,
    ) -> _Minted:
        user, scopes, proof = issue.user, issue.scopes, issue.proof
        issued = int(now.timestamp())
        resource = issue.resource
        lifetime = (
            (resource.access_token_lifetime_seconds if resource else None)
            or client.access_token_lifetime_seconds
            or self.target.default_access_lifetime
        )
        jti = secrets.token_urlsafe(16)
        claims = AccessTokenClaims(
            issuer=self.target.issuer,
            subject=user.user_id,
            audience=resource.url if resource else self.target.audience,
            client_id=client.client_id,
            issued_at=issued,
            expires_at=issued + lifetime,
            attribute_map=user.attribute_map,
            attributes=user.attribute_list,
            scope=" ".join(scopes),
            cnf_jkt=proof.jkt if proof else None,
        ).to_jwt_claims(jti)
        access_token = sign_access_token(key, claims)
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "DPoP" if proof else "Bearer",
            "expires_in": lifetime,
            "scope": " ".join(scopes),
        }
        rows = [_access_row(family_id, client.client_id, user.user_id, jti, issued + lifetime)]
        kept_scopes = issue.refresh_scopes or scopes
        if self._issues_refresh(client, kept_scopes):
            refresh = opaque.generate(REFRESH_PREFIX)
            refresh_jkt = issue.refresh_jkt
            if refresh_jkt is None and client.public and proof is not None:
                refresh_jkt = proof.jkt
            data = {
                "scopes": list(kept_scopes),
                "auth_time": issue.auth_time,
                "sid": issue.session_id,
                "jkt": refresh_jkt,
                "resource": resource.url if resource else None,
            }
            rows.append(
                issue.chain.next_grant(
                    refresh,
                    family_id=family_id,
                    client_id=client.client_id,
                    subject=user.user_id,
                    data=data,
                    access=(jti, issued + lifetime),
                    now=now,
                )
            )
            body["refresh_token"] = refresh
        if id_key is not None:
            user_claims = scoped_claims(
                scopes,
                username=user.username,
                profile=user.profile,
                email=user.email,
                email_verified=user.email_verified,
            )
            id_claims = id_token_claims(
                IdTokenInput(
                    issuer=self.target.issuer,
                    subject=user.user_id,
                    client_id=client.client_id,
                    issued_at=issued,
                    expires_at=issued + lifetime,
                    auth_time=issue.auth_time,
                    nonce=issue.nonce,
                    session_id=issue.session_id,
                    access_token=access_token,
                    alg=id_key.alg,
                ),
                user_claims,
            )
            # The client's algorithm (RS256 by default), not the access token's (decision 034).
            body["id_token"] = sign_jwt(id_key, id_claims, typ=ID_TOKEN_TYP)
        return _Minted(body, jti, rows)
