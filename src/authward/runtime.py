"""``Authward``: the one place that wires config, settings, store, keys and tokens together.

aw = await Authward.open(config)          # migrates (embedded) and syncs the config (decision 035)
token = await aw.machine_user_token("admin-machine-user")
principal = await aw.verify_access_token(token)
"""

from __future__ import annotations

__all__ = ["Authward"]

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.requests import HTTPConnection

from authward.channel.authenticate import TokenType
from authward.channel.chain import AuthFn
from authward.channel.own_tokens import OwnTokens
from authward.config.app import Config
from authward.config.db import DbType
from authward.config.opened import OPENED
from authward.connections.vault import ConnectionVault
from authward.crypto.instance_key import instance_keys
from authward.crypto.secretbox import SecretBox
from authward.errors import ConfigError, SettingsError, TokenError
from authward.identity.api_keys import ApiKeys
from authward.identity.m2m_tokens import M2MTokens
from authward.identity.machines import Machines
from authward.identity.orgs import Organizations
from authward.identity.sessions import Sessions
from authward.jobs import JobPorts, JobSettings, JobsRuntime
from authward.jobs.probe import JobProbe
from authward.oauth.client_metadata import MetadataDocuments, is_client_id_url
from authward.oauth.clients import ClientDirectory, client_loader
from authward.oauth.dpop import DpopNonces, DpopVerifier
from authward.oauth.failures import FailedAuthentications, failure_limits
from authward.oauth.last_use import LastUses
from authward.oauth.public_fetch import PublicFetcher
from authward.oauth.refresh_grant import RefreshPolicy
from authward.oauth.registration import DynamicClients
from authward.oauth.resources import Resource, Resources
from authward.oauth.revocation import GrantRevocation
from authward.oauth.secret_rotation import SecretRotation
from authward.oauth.server import AuthorizationServer
from authward.oauth.signing_keys import SigningKeys
from authward.oauth.token import TokenTarget
from authward.principal import Principal
from authward.refreshing import Refreshing
from authward.settings import Settings, load_settings
from authward.store import instance as instance_store
from authward.store import migrate as migrations
from authward.store.api_keys import ApiKeyStore
from authward.store.audit import AuditEvent, AuditStore
from authward.store.client_directory import ClientSecrets
from authward.store.consents import ConsentStore
from authward.store.dpop import DpopJtiStore
from authward.store.engine import (
    Engine,
    check_connection,
    create_engine,
    opened_or_disposed,
    write_transaction,
)
from authward.store.grants import GrantStore
from authward.store.keys import SigningKeyStore
from authward.store.last_use import LastUseStore
from authward.store.limits import Attempts
from authward.store.m2m import M2MStore
from authward.store.orgs import OrgStore
from authward.store.principals import ClientStore, MachineUserStore
from authward.store.records import StoredClient
from authward.store.registered_clients import RegisteredClientStore
from authward.store.revocations import RevocationStore
from authward.store.sessions import SessionStore
from authward.store.sync import SyncChange, plan_sync, sync_config
from authward.store.token_view import TokenViewStore
from authward.store.type_records import Records
from authward.store.users import UserStore
from authward.store.vault import VaultStore
from authward.tokens.access_token import verify_access_jwt
from authward.tokens.jws_verify import parse_compact
from authward.tokens.keys import KeyAlg, SigningKey
from authward.tokens.verifier import AudienceVerifier, Verifier
from authward.users import Users
from authward.users.throttle import login_policies


def _now() -> datetime:
    return datetime.now(UTC)


async def _settle_issuer(engine: Engine, settings: Settings, *, record: bool) -> Settings:
    if record:
        await instance_store.record_issuer(engine, settings.effective_issuer)
    elif settings.issuer is None:
        recorded = await instance_store.recorded_issuer(engine)
        if recorded is not None:
            return settings.model_copy(update={"issuer": recorded})
    return settings


class Authward:
    def __init__(self, config: Config, settings: Settings, engine: Engine, box: SecretBox):
        self.config = config
        self.settings = settings
        self.engine = engine
        self._box = box
        self.keys = SigningKeyStore(engine, box)
        self.machine_users = MachineUserStore(engine, box)
        self.clients = ClientStore(engine, box)
        #: The registered clients as the browser pages read them (authorize, end session).
        self.registered_clients = Refreshing(
            self._registered_clients,
            refresh_seconds=settings.cache_refresh_seconds,
            what="the registered clients",
        )
        self.revocations = RevocationStore(engine)
        self.audit = AuditStore(engine)
        # Failed client authentications at the token endpoint and its neighbours, and refused
        # API keys (decision 037).
        attempts = Attempts(engine)
        self.failed_authentications = FailedAuthentications(
            attempts, failure_limits(settings), settings.cache_refresh_seconds
        )
        self.api_keys = ApiKeys(
            ApiKeyStore(engine, self.audit),
            refresh_seconds=settings.cache_refresh_seconds,
            failures=self.failed_authentications,
        )
        self.organizations = Organizations(
            OrgStore(engine, self.audit), config.auth.organization_roles, api_keys=self.api_keys
        )
        m2m_store = M2MStore(engine, self.audit)
        self.machines = Machines(m2m_store, refresh_seconds=settings.cache_refresh_seconds)
        self.m2m_tokens = M2MTokens(
            m2m_store, self.machines, refresh_seconds=settings.cache_refresh_seconds
        )
        self.issuer = settings.effective_issuer
        self.audience = settings.effective_audience
        #: The resource servers tokens may be issued for (RFC 8707), identifiers resolved.
        self.resources = Resources(config.auth.resource_servers.values(), self.issuer)
        #: Clients known by the URL of their metadata document (decision 048), when enabled.
        self.client_metadata = (
            MetadataDocuments(
                PublicFetcher(
                    allow_loopback=settings.client_metadata_allow_loopback,
                    ca_bundle=settings.client_metadata_ca_bundle,
                )
            )
            if settings.client_metadata_documents
            else None
        )
        self.verifier = Verifier(
            TokenViewStore(engine, self.keys),
            issuer=self.issuer,
            audience=self.audience,
            resources=tuple(self.resources.by_url),
            leeway=settings.token_leeway_seconds,
            refresh_seconds=settings.cache_refresh_seconds,
            cache_size=settings.verified_token_cache_size,
            unlisted_client=is_client_id_url if self.client_metadata else lambda _: False,
        )
        clients = config.auth.oauth2_clients.values()
        self.signing_keys = SigningKeys(
            self.keys,
            self.verifier,
            self.audit,
            functools.partial(write_transaction, engine),
            access_alg=settings.signing_alg,
            id_token_algs=[c.id_token_signed_response_alg for c in clients],
            max_token_lifetime_seconds=settings.token_leeway_seconds
            + max(
                settings.machine_user_token_lifetime_seconds,
                settings.default_access_token_lifetime_seconds,
                *(c.access_token_lifetime_seconds or 0 for c in clients),
                *(r.access_token_lifetime_seconds or 0 for r in self.resources.by_url.values()),
            ),
            refresh_seconds=settings.cache_refresh_seconds,
        )
        self.sessions = Sessions(
            SessionStore(engine, self.keys, self.audit),
            signer=self.signing_keys.signer,
            organizations=self.organizations,
            issuer=self.issuer,
            audience=self.audience,
            leeway=settings.token_leeway_seconds,
            refresh_seconds=settings.cache_refresh_seconds,
            cache_size=settings.verified_token_cache_size,
            token_lifetime_seconds=settings.session_token_lifetime_seconds,
        )
        # Connected accounts (docs/connected-accounts.md): aw.connections, and the seed's
        # auth.users.get_oauth_access_token through aw.users.
        self.connections = ConnectionVault(
            VaultStore(engine, self.audit),
            box,
            providers=config.auth.connections,
            id_provider=config.auth.id_provider,
            cache_seconds=settings.cache_refresh_seconds,
        )
        grants = GrantStore(engine)
        # Taking access back ends the tokens issued with it (as Keycloak does for offline tokens).
        revocation = GrantRevocation(grants, self.revocations, self.verifier)
        # Clients that registered themselves (RFC 7591, decision 049).
        self.dynamic_clients = DynamicClients(
            RegisteredClientStore(engine, self.audit),
            registration=config.auth.dynamic_registration,
            attempts=attempts,
            revoke_grants=lambda client_id, reason: revocation.revoke_client(
                client_id, reason=reason
            ),
            refresh_seconds=settings.cache_refresh_seconds,
        )
        profile = config.auth.user_profile
        self.users = Users(
            UserStore(engine, self.audit),
            sessions=self.sessions,
            profile=profile,
            profiles=Records(profile.type, engine) if profile is not None else None,
            vault=self.connections,
            claims_ttl_seconds=settings.cache_refresh_seconds,
            login=login_policies(settings),
            end_grants=lambda user_id: revocation.revoke_grants(user_id, reason="user-disabled"),
        )
        self.consents = ConsentStore(
            engine,
            audit=self.audit,
            end_grants=lambda user_id, client_id: revocation.revoke_grants(
                user_id, client_id, reason="consent-revoked"
            ),
        )
        self.dpop = DpopVerifier(
            DpopJtiStore(engine),
            DpopNonces(box.derive_keys("authward-dpop-nonce")),
            require_nonce=settings.dpop_require_nonce,
        )
        # Every client the token endpoint authenticates: declared, registered, or known by its
        # metadata document.
        client_directory = ClientDirectory(
            client_loader(ClientSecrets(engine, box), config.auth.oauth2_clients),
            refresh_seconds=settings.cache_refresh_seconds,
            fallbacks=[
                self.dynamic_clients.find,
                *([self.client_metadata.client] if self.client_metadata else []),
            ],
        )
        # New secrets for the declared clients and machine users (decision 052).
        self.secret_rotation = SecretRotation(
            self.clients, self.machine_users, forget=client_directory.invalidate
        )
        #: When each declared client and machine user last got a token, written in batches.
        self.last_uses = LastUses(LastUseStore(engine), interval=settings.cache_refresh_seconds)
        # The token side of the authorization server (docs/authorization-server.md).
        self.oauth = AuthorizationServer(
            target=TokenTarget(
                issuer=self.issuer,
                audience=self.audience,
                default_access_lifetime=settings.default_access_token_lifetime_seconds,
                machine_user_lifetime=settings.machine_user_token_lifetime_seconds,
                refresh_defaults=RefreshPolicy(
                    idle_seconds=settings.default_refresh_token_lifetime_seconds,
                    absolute_seconds=settings.default_refresh_token_absolute_lifetime_seconds,
                    grace_seconds=settings.default_refresh_token_rotation_grace_seconds,
                ),
                resources=self.resources,
            ),
            profile_fields=tuple(profile.type.fields) if profile is not None else (),
            client_id_metadata_documents=self.client_metadata is not None,
            grants=grants,
            clients=client_directory,
            revocation=revocation,
            verifier=self.verifier,
            signer=self.signing_keys.signer,
            id_token_signer=self.signing_keys.id_token_signer,
            users=self.users,
            dpop=self.dpop,
            audit=self.audit,
            revoke_token=self.revoke_token,
            registration=self.dynamic_clients.enabled,
            issued=self.last_uses.record,
        )
        self._own_tokens = OwnTokens(
            self.verifier, self.api_keys, self.m2m_tokens, self.sessions, self.dpop
        )
        # Job runs (docs/jobs.md); `authward serve` / `worker` bind the app's JobClients to it.
        jobs = JobSettings.of(settings, config.auth.name, self.issuer)
        self.jobs = JobsRuntime(JobPorts(engine, box, self.connections, self.machine_users, jobs))
        #: What /readyz and /metrics ask the job engine (decision 053).
        self.job_probe = JobProbe(self.jobs)

    @classmethod
    async def open(
        cls,
        config: Config,
        settings: Settings | None = None,
        *,
        migrate: bool | None = None,
        record_issuer: bool = False,
        sync: bool = True,
    ) -> Authward:
        """Connect, migrate (by default only on the embedded store), and sync the config (unless
        ``sync`` is false: the CLI's other commands read the store and never write the config).

        The issuer is ``AUTHWARD_ISSUER``, else the one the last `authward serve` recorded in
        the store, else derived from the host and port settings. ``record_issuer`` (what
        `authward serve` does) records this process's issuer instead (decision 033)."""
        settings = settings or load_settings()
        engine = create_engine(settings.database_url)
        async with opened_or_disposed(engine):
            await check_connection(engine)
            if migrate if migrate is not None else settings.is_embedded:
                await migrations.migrate(engine, config.db_types)
            else:
                await migrations.require_current_schema(engine)
            keys = await instance_store.checked_instance_keys(
                engine,
                functools.partial(
                    instance_keys,
                    secret_key=settings.secret_key,
                    previous_secret_keys=settings.previous_secret_keys,
                    key_file=settings.key_file,
                ),
            )
            box = SecretBox(keys.keys)
            settings = await _settle_issuer(engine, settings, record=record_issuer)
            self = cls(config, settings, engine, box)
            if sync:
                await self.sync()
            OPENED.join(config.auth, self.users)  # what `auth.users` reads (decision 042)
        return self

    async def close(self) -> None:
        try:
            # Background reloads of the verifiers' views read the store: done before it closes.
            await self.verifier.close()
            await self.sessions.close()
            await self.oauth.clients.close()
            await self.registered_clients.close()
            await self.dynamic_clients.close()
            if self.client_metadata is not None:
                await self.client_metadata.close()
            await self.signing_keys.close()
            await self.failed_authentications.close()
            await self.jobs.close()  # runs in flight go back to the queue
            await self.api_keys.close()  # and its batched last_used_at
            await self.last_uses.close()
            await self.m2m_tokens.close()
            await self.machines.close()
            await self.connections.close()
        finally:
            OPENED.leave(self.config.auth, self.users)
            await self.engine.dispose()

    async def sync(self, *, prune: bool | None = None) -> list[str]:
        """Apply the config to the store and make sure a signing key exists. Idempotent.

        Deleting what the config no longer declares needs ``prune`` (default: the
        ``sync_prune`` setting); without it :class:`PruneRequired` is raised, nothing changed."""
        now = _now()
        prune = self.settings.sync_prune if prune is None else prune
        async with write_transaction(self.engine) as conn:
            applied = await sync_config(conn, self.config.auth, self.keys_box, now, prune=prune)
            changes = [str(c) for c in applied]
            changes += await self.signing_keys.add_missing(conn, now)
            if changes:
                await self.audit.record(
                    AuditEvent("config.synced", now, actor="authward", detail={"changes": changes}),
                    conn,
                )
        self.signing_keys.changed()
        self.oauth.clients.invalidate()
        self.registered_clients.invalidate()
        return changes

    async def sync_plan(self) -> list[SyncChange]:
        """What :meth:`sync` would change in the machine users and clients, read only."""
        async with self.engine.connect() as conn:
            return await plan_sync(conn, self.config.auth)

    def records(self, db_type: DbType) -> Records:
        """Create, read, update and delete the records of one of the app's db types."""
        if not any(t is db_type for t in self.config.db_types):
            known = ", ".join(t.name for t in self.config.db_types) or "none are defined"
            raise ConfigError(
                f"{db_type.name} is not one of this app's db types (known: {known})",
                path=f"records({db_type.name})",
            )
        return Records(db_type, self.engine)

    async def _registered_clients(self) -> dict[str, StoredClient]:
        return {c.client_id: c for c in await self.clients.list()}

    @property
    def keys_box(self) -> SecretBox:
        return self._box

    async def rotate_keys(self, alg: KeyAlg | None = None) -> list[SigningKey]:
        """New keys sign from now on; the old ones stay published until their tokens expire."""
        return await self.signing_keys.rotate(alg)

    async def jwks(self) -> dict[str, Any]:
        return await self.signing_keys.jwks()

    async def machine_user_token(
        self, name: str, *, lifetime_seconds: int | None = None, audience: str | None = None
    ) -> str:
        """An RFC 9068 access token acting as machine user ``name``."""
        if name not in self.config.auth.machine_users:
            known = ", ".join(sorted(self.config.auth.machine_users)) or "none are defined"
            raise ConfigError(f"no machine user {name!r} (known: {known})")
        stored = await self.machine_users.get(name)
        if stored is None:
            raise SettingsError(
                f"machine user {name!r} is not in the store: run `authward migrate`"
            )
        lifetime = lifetime_seconds or self.settings.machine_user_token_lifetime_seconds
        # The same token the client_credentials grant issues.
        return await self.oauth.tokens.machine_user_token(stored, lifetime, audience=audience)

    def resource(self, resource: str) -> Resource:
        """The declared resource server of this name (``resource_servers``) or identifier."""
        found = self.resources.find(resource)
        if found is None:
            known = ", ".join(sorted(self.resources.by_name)) or "none are declared"
            raise ConfigError(
                f"no resource server {resource!r} in resource_servers (known: {known})",
                path="resource",
            )
        return found

    def resource_verifier(self, resource: str) -> AudienceVerifier:
        """The access-token verifier of a declared resource (name or identifier): every check
        of ``aw.verifier``, and the token must have been issued for that resource."""
        return self.verifier.for_audience(self.resource(resource).url)

    def _bound(self, resource: str | None) -> str | None:
        return None if resource is None else self.resource(resource).url

    async def verify_access_token(self, token: str, *, resource: str | None = None) -> Principal:
        """The principal a token acts as, or :class:`TokenError` with a stable ``reason``.
        With ``resource`` (a declared resource's name or identifier), only a token for it."""
        return await self._own_tokens.verify_access_token(token, self._bound(resource))

    def tokens_entry(
        self,
        *,
        accepts_token: Sequence[TokenType] = ("oauth_token",),
        machine_secret_key: str | None = None,
        to_principal: Callable[[Any], Principal | None] | None = None,
        resource: str | None = None,
    ) -> AuthFn:
        """A chain entry accepting this runtime's tokens (docs/channel.md). Bound to a declared
        ``resource``, it accepts only OAuth tokens issued for it, and every refusal names its
        metadata (docs/resource-servers.md)."""
        return self._own_tokens.entry(
            accepts_token, machine_secret_key, to_principal, self._bound(resource)
        )

    async def authenticate_request(
        self,
        request: HTTPConnection,
        *,
        accepts_token: Sequence[TokenType] = ("oauth_token",),
        machine_secret_key: str | None = None,
        resource: str | None = None,
    ) -> Principal:
        """The request's principal, or :class:`UnauthenticatedError` (401) with the reason."""
        return await self._own_tokens.authenticate(
            request, accepts_token, machine_secret_key, self._bound(resource)
        )

    async def revoke_token(self, token: str, *, reason: str = "revoked") -> bool:
        """Revoke an access token this issuer signed (even one that no longer verifies)."""
        view = await self.verifier.reload()
        claims = verify_access_jwt(parse_compact(token), view.keys)
        jti, exp = claims.get("jti"), claims.get("exp")
        if not isinstance(jti, str) or not isinstance(exp, int | float):
            raise TokenError("token-invalid", "token has no jti or exp")
        now = _now()
        done = await self.revocations.revoke(
            jti, expires_at=datetime.fromtimestamp(exp, UTC), now=now, reason=reason
        )
        self.verifier.note_revoked(jti)
        if done:
            await self.audit.record(
                AuditEvent(
                    "token.revoked",
                    now,
                    subject=str(claims.get("sub")),
                    client_id=str(claims.get("client_id")),
                    detail={"jti": jti},
                )
            )
        return done
