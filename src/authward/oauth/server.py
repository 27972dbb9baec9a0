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
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from authward.errors import TokenError
from authward.oauth.clients import Client, ClientDirectory, authenticate
from authward.oauth.errors import InvalidClient, InvalidRequest
from authward.oauth.grants import CODE_LIFETIME_SECONDS, CODE_PREFIX, CodeGrant, code_data
from authward.oauth.introspection import INACTIVE, access_token_info, refresh_token_info
from authward.oauth.metadata import server_metadata
from authward.oauth.refresh_grant import RefreshPolicy
from authward.oauth.token import REFRESH_PREFIX, TokenEndpoint, TokenRequest, TokenTarget
from authward.store.audit import AuditEvent
from authward.store.client_directory import load_clients
from authward.store.grants import GrantRow, GrantStore, NewGrant
from authward.tokens import opaque

if TYPE_CHECKING:
    from authward.runtime import Authward


def _now() -> datetime:
    return datetime.now(UTC)


class AuthorizationServer:
    def __init__(self, aw: Authward) -> None:
        self._aw = aw
        settings = aw.settings
        self.grants = GrantStore(aw.engine)
        self.clients = ClientDirectory(
            lambda: load_clients(aw.engine, aw.keys_box, aw.config.auth.oauth2_clients),
            refresh_seconds=settings.cache_refresh_seconds,
        )
        self.tokens = TokenEndpoint(
            target=TokenTarget(
                issuer=aw.issuer,
                audience=aw.audience,
                default_access_lifetime=settings.default_access_token_lifetime_seconds,
                machine_user_lifetime=settings.machine_user_token_lifetime_seconds,
                refresh_defaults=RefreshPolicy(
                    idle_seconds=settings.default_refresh_token_lifetime_seconds,
                    absolute_seconds=settings.default_refresh_token_absolute_lifetime_seconds,
                    grace_seconds=settings.default_refresh_token_rotation_grace_seconds,
                ),
            ),
            clients=self.clients,
            grants=self.grants,
            signer=aw._signing_key,
            id_token_signer=aw._id_token_key,
            users=aw.users,
            dpop=aw.dpop,
            audit=aw.audit,
            revoke_family=self.revoke_family,
            revoke_access=self.revoke_access,
        )

    def metadata(self) -> dict[str, Any]:
        profile = self._aw.config.auth.user_profile
        return server_metadata(
            self._aw.issuer,
            profile_fields=profile.type.fields if profile is not None else (),
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

    async def revoke_grants(
        self, user_id: str, client_id: str | None = None, *, reason: str
    ) -> int:
        """Revoke what ``user_id`` granted (to ``client_id``, or to every client): refresh tokens
        and the access tokens issued from them. Returns how many grant families ended."""
        families = await self.grants.live_families(user_id, _now(), client_id=client_id)
        for family_id in families:
            await self.revoke_family(family_id, reason)
        return len(families)

    async def revoke_family(self, family_id: str, reason: str) -> None:
        """Revoke a code's family: its refresh tokens and every access token issued from it, at
        once in this process and within the cache interval in the others."""
        for jti, expires_at in await self.grants.revoke_family(family_id, _now()):
            await self.revoke_access(jti, expires_at, reason)

    async def revoke_access(self, jti: str, expires_at: datetime, reason: str) -> None:
        """Put access token ``jti`` on the revocation list: refused at once in this process and
        within the cache interval in the others."""
        await self._aw.revocations.revoke(jti, expires_at=expires_at, now=_now(), reason=reason)
        self._aw.verifier.note_revoked(jti)

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
            return refresh_token_info(row, issuer=self._aw.issuer) if row else dict(INACTIVE)
        try:
            claims = await self._aw.verifier.verify_claims(token)
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
                await self.revoke_family(row.family_id, "revoked")
                await self._aw.audit.record(
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
            claims = await self._aw.verifier.verify_claims(token)
        except TokenError:
            return  # unknown, expired or already revoked: nothing left to do (§2.2)
        if claims["client_id"] == client.client_id:
            await self._aw.revoke_token(token)
