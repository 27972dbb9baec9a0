"""``AuthorizationServer`` (``aw.oauth``): the token side of authward's authorization server.

    code = await aw.oauth.issue_code(grant)        # the authorize endpoint, after consent
    body = await aw.oauth.token(request)           # POST /oauth2/token
    body = await aw.oauth.introspect(form, authorization)
    await aw.oauth.revoke(form, authorization)

Each method returns the response body or raises an :class:`~authward.oauth.errors.OAuthError`;
``authward.server.oauth_routes`` turns both into HTTP.
"""

from __future__ import annotations

__all__ = ["AuthorizationServer"]

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from authward.config.auth import IdTokenAlg
from authward.errors import TokenError
from authward.oauth.clients import Client, ClientDirectory, authenticate
from authward.oauth.errors import InvalidClient, InvalidRequest
from authward.oauth.grant_handlers.base import ProofChecker, TokenTarget, UserDirectory
from authward.oauth.grants import CODE_LIFETIME_SECONDS, CODE_PREFIX, CodeGrant, code_data
from authward.oauth.introspection import INACTIVE, access_token_info, refresh_token_info
from authward.oauth.metadata import server_metadata
from authward.oauth.ports import AuditLog, ClaimsVerifier, GrantStorePort
from authward.oauth.revocation import GrantRevocation
from authward.oauth.token import REFRESH_PREFIX, TokenEndpoint, TokenRequest
from authward.store.audit import AuditEvent
from authward.store.grants import GrantRow, NewGrant
from authward.tokens import opaque
from authward.tokens.keys import SigningKey


def _now() -> datetime:
    return datetime.now(UTC)


class AuthorizationServer:
    def __init__(
        self,
        *,
        target: TokenTarget,
        profile_fields: Sequence[str],
        client_id_metadata_documents: bool = False,
        grants: GrantStorePort,
        clients: ClientDirectory,
        revocation: GrantRevocation,
        verifier: ClaimsVerifier,
        signer: Callable[[], Awaitable[SigningKey]],
        id_token_signer: Callable[[IdTokenAlg], Awaitable[SigningKey]],
        users: UserDirectory,
        dpop: ProofChecker,
        audit: AuditLog,
        revoke_token: Callable[[str], Awaitable[bool]],
        registration: bool = False,
        issued: Callable[[str, str], None] | None = None,
    ) -> None:
        """``revoke_token`` puts an access token this issuer signed on the revocation list;
        ``registration``: dynamic client registration is on (advertised in the metadata);
        ``client_id_metadata_documents``: whether ``clients`` resolves client_id URLs."""
        self._issuer = target.issuer
        self._registration = registration
        self._profile_fields = tuple(profile_fields)
        self._client_id_metadata_documents = client_id_metadata_documents
        self.grants = grants
        self.clients = clients
        self.revocation = revocation
        self._verifier = verifier
        self._audit = audit
        self._revoke_token = revoke_token
        self.tokens = TokenEndpoint(
            target=target,
            clients=clients,
            grants=grants,
            signer=signer,
            id_token_signer=id_token_signer,
            users=users,
            dpop=dpop,
            audit=audit,
            revoke_family=revocation.revoke_family,
            revoke_access=revocation.revoke_access,
            issued=issued,
        )

    def metadata(self) -> dict[str, Any]:
        return server_metadata(
            self._issuer,
            profile_fields=self._profile_fields,
            registration=self._registration,
            client_id_metadata_documents=self._client_id_metadata_documents,
        )

    async def issue_code(self, grant: CodeGrant) -> str:
        """An opaque, single-use authorization code for ``grant``, valid for a minute."""
        code = opaque.generate(CODE_PREFIX)
        now = _now()
        await self.grants.add(
            NewGrant(
                digest=opaque.digest(code),
                kind="code",
                family_id=secrets.token_urlsafe(24),
                client_id=grant.client_id,
                subject=grant.user_id,
                data=code_data(grant),
                expires_at=now + timedelta(seconds=CODE_LIFETIME_SECONDS),
            ),
            now,
        )
        return code

    async def token(self, request: TokenRequest) -> dict[str, Any]:
        return await self.tokens.handle(request)

    async def _refresh_row(self, token: str, client: Client) -> GrantRow | None:
        """The live refresh token ``token`` of ``client``, else ``None``."""
        if not opaque.is_well_formed(token, REFRESH_PREFIX):
            return None
        row = await self.grants.get(opaque.digest(token))
        if row is None or row.kind != "refresh" or row.client_id != client.client_id:
            return None
        if row.used_at or row.revoked_at or row.expires_at <= _now():
            return None
        return row

    async def introspect(
        self, form: Mapping[str, str], authorization: str | None
    ) -> dict[str, Any]:
        """RFC 7662 §2: the token's state for an authenticated confidential client."""
        client = await authenticate(self.clients, form, authorization)
        if client.public:
            raise InvalidClient("introspection is for confidential clients")
        token = form.get("token")
        if token is None:
            raise InvalidRequest("token is required")
        if token.startswith(REFRESH_PREFIX):
            row = await self._refresh_row(token, client)
            return refresh_token_info(row, issuer=self._issuer) if row else dict(INACTIVE)
        try:
            claims = await self._verifier.verify_claims(token)
        except TokenError:
            return dict(INACTIVE)
        return access_token_info(claims)

    async def revoke(
        self, form: Mapping[str, str], authorization: str | None, *, ip: str | None = None
    ) -> None:
        """RFC 7009 §2: revoke one of the client's own tokens; anything else is quietly done."""
        client = await authenticate(self.clients, form, authorization)
        token = form.get("token")
        if token is None:
            raise InvalidRequest("token is required")
        if token.startswith(REFRESH_PREFIX):
            row = await self._refresh_row(token, client)
            if row is not None:
                await self.revocation.revoke_family(row.family_id, "revoked")
                await self._audit.record(
                    AuditEvent(
                        "token.revoked",
                        _now(),
                        subject=row.subject,
                        client_id=client.client_id,
                        ip=ip,
                        detail={"family": row.family_id, "token_type": "refresh_token"},
                    )
                )
            return
        try:
            claims = await self._verifier.verify_claims(token)
        except TokenError:
            return  # unknown, expired or already revoked: nothing left to do (§2.2)
        if claims["client_id"] == client.client_id:
            await self._revoke_token(token)
