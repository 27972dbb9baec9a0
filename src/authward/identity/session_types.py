"""What the sessions aggregate shows callers (:class:`SessionInfo`, :class:`MintedToken`,
:class:`SessionAuth`) and the pure checks of its inputs and of session-token claims. The service is
:mod:`authward.identity.sessions`."""

from __future__ import annotations

__all__ = [
    "DEFAULT_SESSION_LIFETIME",
    "DEFAULT_TOKEN_LIFETIME_SECONDS",
    "SECRET_COOKIE",
    "SESSION_COOKIE",
    "SESSION_ID_PREFIX",
    "SESSION_SECRET_PREFIX",
    "MintedToken",
    "NewSession",
    "SessionAuth",
    "SessionInfo",
]

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from authward.errors import ConfigError, TokenError
from authward.identity.orgs import random_id
from authward.principal import AttributeValue, BuildsPrincipal, Principal
from authward.store.audit import AuditEvent
from authward.tokens import opaque
from authward.tokens.jws_verify import VerifyKey
from authward.tokens.session_token import RESERVED_CLAIMS

SESSION_SECRET_PREFIX = "sess_"  # noqa: S105 (a prefix, not a secret)
SESSION_ID_PREFIX = "sid_"
#: The cookie that carries the session token (the JWT), never the secret.
SESSION_COOKIE = "__session"
#: The cookie that carries the session secret, sent only to the mint endpoint.
SECRET_COOKIE = "__session_secret"  # noqa: S105 (a cookie name)
DEFAULT_SESSION_LIFETIME = timedelta(days=7)
_MAX_SESSION_LIFETIME = timedelta(days=400)
DEFAULT_TOKEN_LIFETIME_SECONDS = 60
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SECRET_CHARS = 43  # 62**43 > 2**256
#: Custom session claims travel in a cookie (browsers keep 4 KiB): keep them small.
_MAX_CLAIMS_JSON = 1024
_CLAIM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: Attribute names the default principal mapping (and ``@requires``) gives a meaning to.
_RESERVED_ATTRIBUTES = frozenset(
    {
        "tokenType",
        "sessionId",
        "userId",
        "orgId",
        "role",
        "orgRole",
        "permissions",
        "scopes",
        "scope",
        "clientId",
    }
)
_MAX_ID = 64
_MAX_IP = 64
_MAX_USER_AGENT = 400


def _is_secret(value: object) -> bool:
    if not isinstance(value, str) or not value.startswith(SESSION_SECRET_PREFIX):
        return False
    body = value[len(SESSION_SECRET_PREFIX) :]
    return len(body) == _SECRET_CHARS and body.isascii() and body.isalnum()


def _generate_secret() -> str:
    return random_id(SESSION_SECRET_PREFIX, _SECRET_CHARS)


# -- what callers see ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A stored session as listings show it (never its secret)."""

    id: str
    user_id: str
    active_org_id: str | None
    claims: Mapping[str, Any]
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_active_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def status(self, now: datetime | None = None) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session made but not stored yet (:meth:`Sessions.new`): its caller writes ``row`` and
    ``created`` with its own rows, in one transaction (a password sign-in)."""

    info: SessionInfo
    #: For the ``__session_secret`` cookie; only its digest is in ``row``.
    secret: str = field(repr=False)
    #: The ``aw_sessions`` row, by column name.
    row: Mapping[str, Any] = field(repr=False)
    #: Its ``session.created`` audit event.
    created: AuditEvent


@dataclass(frozen=True, slots=True)
class MintedToken:
    token: str
    #: The token's ``exp`` (POSIX seconds).
    expires_at: int
    session_id: str
    user_id: str
    org_id: str | None


@dataclass(frozen=True)
class SessionAuth(BuildsPrincipal):
    """A verified session token: which user, in which session, acting in which organization."""

    user_id: str
    session_id: str
    org_id: str | None
    org_role: str | None
    org_permissions: tuple[str, ...]
    session_claims: Mapping[str, AttributeValue]
    token_type: Literal["session_token"] = "session_token"  # noqa: S105
    # Built once per verified token (kept with the cached verification).
    _principal: Principal | None = field(default=None, init=False, repr=False, compare=False)

    def _build_principal(self) -> Principal:
        attributes: dict[str, Any] = dict(self.session_claims)
        attributes.update(
            tokenType=self.token_type,
            sessionId=self.session_id,
            permissions=tuple(self.org_permissions),
        )
        if self.org_id is not None:
            attributes["orgId"] = self.org_id
        if self.org_role is not None:
            attributes["role"] = self.org_role
        return Principal(
            authenticator="authward",
            principal_type="user",
            principal_id=self.user_id,
            subject=self.user_id,
            attributes=attributes,
        )


# -- validation ---------------------------------------------------------------------------------


def _session_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(claims, Mapping):
        raise ConfigError("must be a mapping of claim names to values", path="claims")
    out: dict[str, Any] = {}
    for name, value in claims.items():
        path = f"claims[{name!r}]"
        if not isinstance(name, str) or not _CLAIM_NAME.fullmatch(name):
            raise ConfigError("claim names are a letter then letters, digits or '_'", path=path)
        if name in RESERVED_CLAIMS or name in _RESERVED_ATTRIBUTES:
            raise ConfigError(
                "is reserved (registered JWT claims, sid, org_*, and the principal's "
                "tokenType, sessionId, orgId, role, permissions, scopes...)",
                path=path,
            )
        if isinstance(value, str | bool):
            out[name] = value
        elif isinstance(value, list | tuple) and (
            all(isinstance(v, str) for v in value) or all(isinstance(v, bool) for v in value)
        ):
            out[name] = list(value)
        else:
            raise ConfigError(
                "must be a string, a boolean, or a list of strings or of booleans "
                "(what a principal attribute can hold)",
                path=path,
            )
    if len(json.dumps(out, separators=(",", ":"))) > _MAX_CLAIMS_JSON:
        raise ConfigError(
            f"custom session claims are at most {_MAX_CLAIMS_JSON} bytes of JSON (the token "
            "travels in a cookie)",
            path="claims",
        )
    return out


def _frozen_claims(claims: Mapping[str, Any]) -> Mapping[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for name, value in claims.items():
        if name in RESERVED_CLAIMS:
            continue
        kind = type(value)
        if kind is str or kind is bool:
            out[name] = value
        elif kind is list and (
            all(type(v) is str for v in value) or all(type(v) is bool for v in value)
        ):
            out[name] = tuple(value)
        else:
            raise TokenError("token-invalid", f"token claim {name!r} has an unexpected value")
    return MappingProxyType(out)


def _bounded(label: str, value: str | None, limit: int, *, truncate: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError("must be a string", path=label)
    if len(value) > limit:
        if not truncate:
            raise ConfigError(f"must be at most {limit} characters", path=label)
        value = value[:limit]
    return value


def _lifetime(lifetime: timedelta | int) -> timedelta:
    span = timedelta(seconds=lifetime) if isinstance(lifetime, int) else lifetime
    if not isinstance(span, timedelta) or not (
        timedelta(seconds=1) <= span <= _MAX_SESSION_LIFETIME
    ):
        raise ConfigError(
            f"must be between 1 second and {_MAX_SESSION_LIFETIME.days} days", path="lifetime"
        )
    return span


class _NewFields(NamedTuple):
    user_id: str
    claims: dict[str, Any]
    lifetime: timedelta
    ip: str | None
    user_agent: str | None


def _new_fields(
    user_id: str,
    claims: Mapping[str, Any] | None,
    ip: str | None,
    user_agent: str | None,
    lifetime: timedelta | int,
) -> _NewFields:
    """What a new session is given, checked (``ConfigError`` names the field)."""
    user = _bounded("user_id", user_id, _MAX_ID)
    if not user or user != user.strip():
        raise ConfigError("must be a non-empty id without surrounding spaces", path="user_id")
    custom = _session_claims(claims or {})
    span = _lifetime(lifetime)
    ip = _bounded("ip", ip, _MAX_IP)
    user_agent = _bounded("user_agent", user_agent, _MAX_USER_AGENT, truncate=True)
    return _NewFields(user, custom, span, ip, user_agent)


def _new_session(fields: _NewFields, actor: str | None, org_id: str | None) -> NewSession:
    now = datetime.now(UTC)
    secret = _generate_secret()
    info = SessionInfo(
        id=random_id(SESSION_ID_PREFIX),
        user_id=fields.user_id,
        active_org_id=org_id,
        claims=MappingProxyType(fields.claims),
        ip=fields.ip,
        user_agent=fields.user_agent,
        created_at=now,
        last_active_at=now,
        expires_at=now + fields.lifetime,
        revoked_at=None,
    )
    created = AuditEvent(
        "session.created",
        now,
        actor=actor,
        subject=fields.user_id,
        ip=fields.ip,
        detail={"session_id": info.id, "org_id": org_id, "expires_at": info.expires_at.isoformat()},
    )
    row = {
        "id": info.id,
        "digest": opaque.digest(secret),
        "user_id": fields.user_id,
        "active_org_id": org_id,
        "claims": fields.claims,
        "ip": fields.ip,
        "user_agent": fields.user_agent,
        "created_at": now,
        "last_active_at": now,
        "expires_at": info.expires_at,
    }
    return NewSession(info, secret, row, created)


def _info(row: Any) -> SessionInfo:
    return SessionInfo(
        id=row.id,
        user_id=row.user_id,
        active_org_id=row.active_org_id,
        claims=MappingProxyType(dict(row.claims or {})),
        ip=row.ip,
        user_agent=row.user_agent,
        created_at=row.created_at,
        last_active_at=row.last_active_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _replace_org(info: SessionInfo, org_id: str | None) -> SessionInfo:
    return SessionInfo(
        id=info.id,
        user_id=info.user_id,
        active_org_id=org_id,
        claims=info.claims,
        ip=info.ip,
        user_agent=info.user_agent,
        created_at=info.created_at,
        last_active_at=info.last_active_at,
        expires_at=info.expires_at,
        revoked_at=info.revoked_at,
    )


def _auth_key(claims: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A key equal only for claims :func:`_auth` turns into equal answers: every claim but the
    times, each a string, a boolean or a list of them (``True == 1`` would otherwise let one
    token's answer stand for another's); ``None`` when some claim is anything else."""
    key = []
    for name, value in claims.items():
        kind = type(value)
        if kind is str or kind is bool:
            key.append((name, value))
        elif kind is list:
            for item in value:
                if type(item) is not str and type(item) is not bool:
                    return None
            key.append((name, tuple(value)))
        elif name != "iat" and name != "exp":  # SessionAuth does not carry them
            return None
    return tuple(key)


def _auth(claims: Mapping[str, Any]) -> SessionAuth:
    org_id, role, permissions = (
        claims.get("org_id"),
        claims.get("org_role"),
        claims.get("org_permissions"),
    )
    if org_id is not None and not isinstance(org_id, str):
        raise TokenError("token-invalid", "org_id must be a string")
    if role is not None and not isinstance(role, str):
        raise TokenError("token-invalid", "org_role must be a string")
    if permissions is None:
        permissions = []
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise TokenError("token-invalid", "org_permissions must be a list of strings")
    return SessionAuth(
        user_id=claims["sub"],
        session_id=claims["sid"],
        org_id=org_id,
        org_role=role,
        org_permissions=tuple(permissions),
        session_claims=_frozen_claims(claims),
    )


@dataclass(frozen=True, slots=True)
class _State:
    user_id: str
    expires_ts: float
    revoked: bool


@dataclass(frozen=True, slots=True)
class _KeyView:
    keys: Mapping[str, VerifyKey]
