"""The OAuth core (oauth/server.py, the token endpoint and its grant handlers) on in-memory fakes
of its ports (tests/fakes/), with real keys, the real token verifier and DPoP checker, and
requests built by an independent client (Authlib's token request, client authentication and
PKCE helpers). Each test asserts what a client sees: the token response, the RFC 6749 §5.2
error body and status, the introspection answer, and whether its tokens still verify."""

from __future__ import annotations

import base64
import json
import secrets
import time
import warnings
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from authward.errors import TokenError
from authward.oauth.clients import ClientDirectory, client_loader
from authward.oauth.dpop import DpopNonces, DpopVerifier
from authward.oauth.errors import OAuthError
from authward.oauth.grant_handlers.base import TokenRequest, TokenTarget
from authward.oauth.grants import CodeGrant
from authward.oauth.refresh_grant import RefreshPolicy
from authward.oauth.revocation import GrantRevocation
from authward.oauth.server import AuthorizationServer
from authward.store.records import StoredMachineUser
from authward.tokens.keys import KeyAlg, SigningKey, generate_signing_key
from authward.tokens.verifier import Verifier
from authward.users.service import UserClaims
from tests.fakes import (
    MemoryAuditLog,
    MemoryClientSource,
    MemoryGrantStore,
    MemoryJtis,
    MemoryRevocations,
    MemoryTokenViewSource,
    MemoryUsers,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.oauth2.auth import ClientAuth
    from authlib.oauth2.rfc6749.parameters import prepare_token_request
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

ISSUER = "https://auth.example"
TOKEN_URL = f"{ISSUER}/oauth2/token"
REDIRECT = "https://app.example/callback"
CLIENTS: dict[str, dict[str, Any]] = {
    "web": {"redirect_uris": [REDIRECT]},
    "retrying": {"redirect_uris": [REDIRECT], "refresh_token_rotation_grace_seconds": 60},
    "spa": {"redirect_uris": [REDIRECT], "public": True},
    # A resource server: it only introspects and revokes.
    "api": {"redirect_uris": [REDIRECT], "grant_types": ["authorization_code"]},
}
ACCESS_LIFETIME = 600
MACHINE_LIFETIME = 300


@dataclass
class Core:
    server: AuthorizationServer
    verifier: Verifier
    clients: MemoryClientSource
    revocations: MemoryRevocations
    audit: MemoryAuditLog
    user: UserClaims
    machine: StoredMachineUser
    #: The keys that signed ID tokens, by algorithm.
    id_token_keys: dict[str, SigningKey]

    async def code(
        self, client: str = "web", scopes: tuple[str, ...] = ("read",)
    ) -> tuple[str, str]:
        """An authorization code as the authorize endpoint issues it, and its PKCE verifier."""
        verifier = generate_token(48)
        code = await self.server.issue_code(
            CodeGrant(
                client_id=self.clients.credentials(client)[0],
                redirect_uri=REDIRECT,
                scopes=scopes,
                user_id=self.user.user_id,
                code_challenge=create_s256_code_challenge(verifier),
                nonce=None,
                auth_time=int(time.time()),
                session_id=None,
            )
        )
        return code, verifier

    def _signed(self, client: str, body: str) -> tuple[dict[str, str], str | None]:
        """The form and ``Authorization`` header of ``body`` sent by ``client``: HTTP Basic,
        or only its ``client_id`` for a public client."""
        client_id, secret = self.clients.credentials(client)
        public = self.clients.configured.get(client)
        method = "none" if public is not None and public.public else "client_secret_basic"
        _, headers, body = ClientAuth(client_id, secret, method).prepare(
            "POST", TOKEN_URL, {}, body
        )
        return dict(parse_qsl(body)), headers.get("Authorization")

    async def token(
        self, client: str, grant_type: str | None, *, dpop: str | None = None, **params: str
    ) -> dict[str, Any]:
        body = prepare_token_request(grant_type, **params) if grant_type else ""
        form, authorization = self._signed(client, body)
        request = TokenRequest(form=form, authorization=authorization, dpop=dpop, url=TOKEN_URL)
        return await self.server.token(request)

    async def exchange(self, client: str = "web") -> dict[str, Any]:
        code, verifier = await self.code(client)
        return await self.token(
            client, "authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
        )

    async def introspect(self, token: str, client: str = "api") -> dict[str, Any]:
        form, authorization = self._signed(client, urlencode({"token": token}))
        return await self.server.introspect(form, authorization)

    async def revoke(self, token: str, client: str) -> None:
        form, authorization = self._signed(client, urlencode({"token": token}))
        await self.server.revoke(form, authorization)

    def revoked(self) -> frozenset[str]:
        """The jti on the revocation list other processes reload."""
        return self.revocations.live(datetime.now(UTC))


async def refused(call: Awaitable[Any]) -> dict[str, Any]:
    """The error response a client gets: its status and JSON body (RFC 6749 §5.2)."""
    with pytest.raises(OAuthError) as caught:
        await call
    return {"status": caught.value.status, **caught.value.to_json()}


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


@pytest.fixture(scope="module")
def signing_key() -> SigningKey:
    return generate_signing_key("EdDSA")


@pytest.fixture
async def core(signing_key: SigningKey) -> AsyncIterator[Core]:
    grants, audit = MemoryGrantStore(), MemoryAuditLog()
    revocations, users = MemoryRevocations(), MemoryUsers()
    clients = MemoryClientSource(CLIENTS)
    machine = clients.add_machine_user("reporter", {"team": "reports"})
    id_token_keys: dict[str, SigningKey] = {}

    source = MemoryTokenViewSource(signing_key, clients, revocations)
    verifier = Verifier(source, issuer=ISSUER, audience=ISSUER, leeway=0, refresh_seconds=60)

    async def signer() -> SigningKey:
        return signing_key

    async def id_token_signer(alg: KeyAlg) -> SigningKey:
        if alg not in id_token_keys:
            id_token_keys[alg] = generate_signing_key(alg)
        return id_token_keys[alg]

    async def revoke_token(token: str) -> bool:
        # What the runtime's ``revoke_token`` does, once the server has verified the token.
        claims = await verifier.verify_claims(token)
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        now = datetime.now(UTC)
        done = await revocations.revoke(
            claims["jti"], expires_at=expires_at, now=now, reason="revoked"
        )
        verifier.note_revoked(claims["jti"])
        return done

    directory = ClientDirectory(client_loader(clients, clients.configured), refresh_seconds=3600)
    server = AuthorizationServer(
        target=TokenTarget(
            issuer=ISSUER,
            audience=ISSUER,
            default_access_lifetime=ACCESS_LIFETIME,
            machine_user_lifetime=MACHINE_LIFETIME,
            refresh_defaults=RefreshPolicy(
                idle_seconds=3600, absolute_seconds=86_400, grace_seconds=0
            ),
        ),
        profile_fields=(),
        grants=grants,
        clients=directory,
        revocation=GrantRevocation(grants, revocations, verifier),
        verifier=verifier,
        signer=signer,
        id_token_signer=id_token_signer,
        users=users,
        dpop=DpopVerifier(MemoryJtis(), DpopNonces([secrets.token_bytes(32)])),
        audit=audit,
        revoke_token=revoke_token,
    )
    user = users.add("ada", email="ada@example.com")
    yield Core(server, verifier, clients, revocations, audit, user, machine, id_token_keys)
    await directory.close()
    await verifier.close()


async def test_a_code_and_its_pkce_verifier_buy_tokens_that_verify(core: Core) -> None:
    body = await core.exchange()
    assert body.keys() == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "Bearer",
        ACCESS_LIFETIME,
        "read",
    )
    assert body["refresh_token"].startswith("awrt_")
    verified = await core.verifier.verify_token(body["access_token"])
    assert (verified.for_user, verified.claims["sub"]) == (True, core.user.user_id)
    web_id = core.clients.credentials("web")[0]
    assert claims_of(body["access_token"])["client_id"] == web_id
    assert core.audit.kinds() == ["token.issued"]


async def test_an_openid_code_also_buys_an_id_token_for_the_client(core: Core) -> None:
    code, verifier = await core.code(scopes=("openid", "email", "offline_access"))
    params = {"code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    body = await core.token("web", "authorization_code", **params)
    assert "refresh_token" in body  # offline_access
    key = core.id_token_keys["RS256"].key
    id_token = jws.deserialize_compact(body["id_token"], key, algorithms=["RS256"])
    claims = json.loads(id_token.payload)
    assert (claims["iss"], claims["sub"]) == (ISSUER, core.user.user_id)
    assert claims["aud"] == core.clients.credentials("web")[0]
    assert (claims["email"], claims["email_verified"]) == ("ada@example.com", True)


async def test_a_wrong_code_verifier_is_refused(core: Core) -> None:
    code, _ = await core.code()
    answer = await refused(
        core.token(
            "web",
            "authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=generate_token(48),
        )
    )
    assert (answer["status"], answer["error"]) == (400, "invalid_grant")
    assert core.audit.kinds() == []


async def test_a_code_used_twice_is_refused_and_what_it_bought_is_revoked(core: Core) -> None:
    code, verifier = await core.code()
    params = {"code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    first = await core.token("web", "authorization_code", **params)
    answer = await refused(core.token("web", "authorization_code", **params))
    assert (answer["status"], answer["error"]) == (400, "invalid_grant")
    assert "already used" in answer["error_description"]

    jti = claims_of(first["access_token"])["jti"]
    assert jti in core.revoked()
    assert core.revocations.reason(jti) == "grant.code_reused"
    assert await core.introspect(first["access_token"]) == {"active": False}
    with pytest.raises(TokenError, match="revoked"):
        await core.verifier.verify_token(first["access_token"])
    again = await refused(core.token("web", "refresh_token", refresh_token=first["refresh_token"]))
    assert again["error"] == "invalid_grant"
    assert core.audit.kinds() == ["token.issued", "grant.code_reused"]


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_grant(core: Core) -> None:
    first = await core.exchange()
    second = await core.token("web", "refresh_token", refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert (await core.introspect(second["access_token"]))["active"] is True

    # The rotated-out token comes back (stolen, or replayed): everything of the grant ends.
    answer = await refused(core.token("web", "refresh_token", refresh_token=first["refresh_token"]))
    assert (answer["status"], answer["error"]) == (400, "invalid_grant")
    for body in (first, second):
        assert claims_of(body["access_token"])["jti"] in core.revoked()
        assert await core.introspect(body["access_token"]) == {"active": False}
    latest = await refused(
        core.token("web", "refresh_token", refresh_token=second["refresh_token"])
    )
    assert latest["error"] == "invalid_grant"
    assert core.audit.kinds() == ["token.issued", "token.refreshed", "grant.refresh_reused"]


async def test_a_refresh_retried_within_grace_replaces_the_lost_answer(core: Core) -> None:
    first = await core.exchange("retrying")
    lost = await core.token("retrying", "refresh_token", refresh_token=first["refresh_token"])
    retried = await core.token("retrying", "refresh_token", refresh_token=first["refresh_token"])
    assert retried["refresh_token"] not in (lost["refresh_token"], first["refresh_token"])

    lost_jti = claims_of(lost["access_token"])["jti"]
    assert core.revocations.reason(lost_jti) == "refresh_retry"
    assert await core.introspect(lost["access_token"]) == {"active": False}
    assert (await core.introspect(retried["access_token"]))["active"] is True
    third = await core.token("retrying", "refresh_token", refresh_token=retried["refresh_token"])
    assert third["token_type"] == "Bearer"


async def test_client_credentials_for_a_machine_user(core: Core) -> None:
    body = await core.token("reporter", "client_credentials")
    assert body.keys() == {"access_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", MACHINE_LIFETIME)
    verified = await core.verifier.verify_token(body["access_token"])
    assert verified.for_user is False  # the machine user's own token
    assert verified.claims["sub"] == str(core.machine.id)
    assert verified.claims["attribute_map"] == {"team": "reports"}

    scoped = await refused(core.token("reporter", "client_credentials", scope="admin"))
    assert (scoped["status"], scoped["error"]) == (400, "invalid_scope")
    not_machine = await refused(core.token("web", "client_credentials"))
    assert (not_machine["status"], not_machine["error"]) == (400, "unauthorized_client")


async def test_a_wrong_client_secret_is_refused(core: Core) -> None:
    client_id, _ = core.clients.credentials("reporter")
    body = prepare_token_request("client_credentials")
    _, headers, _ = ClientAuth(client_id, "not-the-secret").prepare("POST", TOKEN_URL, {}, body)
    request = TokenRequest(
        form=dict(parse_qsl(body)),
        authorization=headers["Authorization"],
        dpop=None,
        url=TOKEN_URL,
    )
    answer = await refused(core.server.token(request))
    assert (answer["status"], answer["error"]) == (401, "invalid_client")


async def test_introspection_is_active_until_the_token_is_revoked(core: Core) -> None:
    body = await core.exchange()
    info = await core.introspect(body["access_token"])
    web_id = core.clients.credentials("web")[0]
    assert info["active"] is True
    assert (info["sub"], info["client_id"], info["scope"]) == (core.user.user_id, web_id, "read")
    assert (info["iss"], info["token_type"]) == (ISSUER, "Bearer")
    refresh = await core.introspect(body["refresh_token"], "web")
    assert (refresh["active"], refresh["token_type"]) == (True, "refresh_token")
    # A refresh token is described only to the client it was issued to.
    assert await core.introspect(body["refresh_token"], "api") == {"active": False}

    await core.revoke(body["access_token"], "web")
    assert await core.introspect(body["access_token"]) == {"active": False}
    assert claims_of(body["access_token"])["jti"] in core.revoked()
    await core.revoke(body["refresh_token"], "web")
    assert await core.introspect(body["refresh_token"], "web") == {"active": False}
    answer = await refused(core.token("web", "refresh_token", refresh_token=body["refresh_token"]))
    assert answer["error"] == "invalid_grant"

    public = await refused(core.introspect(body["access_token"], "spa"))
    assert (public["status"], public["error"]) == (401, "invalid_client")


async def test_revoking_another_clients_token_is_a_quiet_no_op(core: Core) -> None:
    body = await core.exchange()
    await core.revoke(body["access_token"], "api")
    await core.revoke(body["refresh_token"], "api")
    await core.revoke("not-a-token-at-all", "api")
    assert core.revoked() == frozenset()
    assert (await core.introspect(body["access_token"]))["active"] is True
    refreshed = await core.token("web", "refresh_token", refresh_token=body["refresh_token"])
    assert refreshed["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("grant_type", "error"),
    [("password", "unsupported_grant_type"), (None, "invalid_request")],
    ids=["unsupported", "missing"],
)
async def test_a_grant_type_that_is_unsupported_or_missing(
    core: Core, grant_type: str | None, error: str
) -> None:
    answer = await refused(core.token("web", grant_type))
    assert (answer["status"], answer["error"]) == (400, error)


class DpopKey:
    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def proof(self) -> str:
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        claims = {
            "jti": generate_token(16),
            "htm": "POST",
            "htu": TOKEN_URL,
            "iat": int(time.time()),
        }
        return jws.serialize_compact(header, json.dumps(claims), self.key, algorithms=["ES256"])


async def test_a_public_clients_tokens_are_bound_to_its_dpop_key(core: Core) -> None:
    key = DpopKey()
    code, verifier = await core.code("spa")
    proof = key.proof()
    params = {"code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    body = await core.token("spa", "authorization_code", dpop=proof, **params)
    assert body["token_type"] == "DPoP"
    info = await core.introspect(body["access_token"])
    assert info["cnf"] == {"jkt": key.jkt}

    refresh = {"refresh_token": body["refresh_token"]}
    replayed = await refused(core.token("spa", "refresh_token", dpop=proof, **refresh))
    assert (replayed["status"], replayed["error"]) == (400, "invalid_dpop_proof")
    unbound = await refused(core.token("spa", "refresh_token", **refresh))
    assert unbound["error"] == "invalid_dpop_proof"
    other = await refused(core.token("spa", "refresh_token", dpop=DpopKey().proof(), **refresh))
    assert other["error"] == "invalid_dpop_proof"
    rotated = await core.token("spa", "refresh_token", dpop=key.proof(), **refresh)
    assert rotated["token_type"] == "DPoP"
