"""DPoP proofs, RFC 9449: check that the caller holds the key a token is (or will be) bound to.

    proof = await aw.dpop.verify(single_dpop_header(values), method="POST", url=token_url)
    # bind the token to proof.jkt (cnf.jkt); at a resource also pass access_token= and
    # expected_jkt= so the proof must cover this token (ath) and come from its key

What §4.3 asks of a receiver, in the order it is checked here (each refusal is
:class:`InvalidDpopProof`, or :class:`UseDpopNonce` for a missing or stale nonce):

- exactly one ``DPoP`` header (:func:`single_dpop_header`), a compact JWS of bounded size, each
  segment canonical base64url (no padding, no ``+/``, nothing outside the alphabet);
- header ``typ`` is ``dpop+jwt``; ``alg`` is an asymmetric algorithm of :data:`ALGORITHMS`
  (never ``none``, never HMAC); ``jwk`` is a public key (no private members) that can verify
  ``alg``; the signature verifies with that key; no ``crit`` extension;
- ``jti`` (a string of at most 256 characters), ``htm`` equal to the request's method, ``htu``
  equal to the request's URL without query and fragment (scheme and host case and default
  ports normalised), ``iat`` at most ``max_age`` seconds old and at most ``max_skew`` ahead;
  ``nbf``, when present, a number at most ``max_skew`` ahead;
- §7.1 at a resource: ``ath`` is the base64url SHA-256 of the access token, and the key is the
  one the token names in ``cnf.jkt``;
- §8 server nonces, when required: the ``nonce`` claim is one this server (any process of it)
  handed out lately (:class:`DpopNonces`);
- §11.1 replay: the (key, ``jti``) pair was not seen before within the proof's lifetime, across
  every process sharing the store (:class:`JtiStore`).

Failing checks run before the replay insert, so junk never reaches the store. The public key
of a proof header is parsed once per distinct header (clients reuse one key for every proof);
the signature is checked every time. See docs/dpop.md and docs/decisions/011.
"""

from __future__ import annotations

__all__ = [
    "ALGORITHMS",
    "MAX_JTI_LENGTH",
    "MAX_PROOF_LENGTH",
    "DpopNonces",
    "DpopProof",
    "DpopVerifier",
    "JtiStore",
    "access_token_hash",
    "normalise_htu",
    "single_dpop_header",
]

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry

from authward.errors import TokenError
from authward.oauth.errors import InvalidDpopProof, UseDpopNonce
from authward.tokens.jws_verify import (
    VerifyKey,
    b64url_decode,
    compact_segments,
    verify_key_from_jwk,
)

#: Asymmetric JWS algorithms a proof may use (advertised as ``dpop_signing_alg_values_supported``);
#: ``Ed25519`` is RFC 9864's fully specified name for ``EdDSA`` with that curve.
ALGORITHMS: tuple[str, ...] = ("EdDSA", "Ed25519", "ES256", "ES384", "PS256", "RS256")
#: A proof with an 8192-bit RSA key is under 4 KB; anything much larger is junk.
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256
TYP = "dpop+jwt"

# RFC 7517/7518 private key members: a proof must carry the public key only.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_HEADER_CACHE_SIZE = 4096


class JtiStore(Protocol):
    """Where seen proofs are remembered, shared by every process of the server."""

    async def remember(self, key: str, expires_at: int) -> bool:
        """Record ``key`` until ``expires_at`` (Unix seconds); False if it is already there
        and not yet expired."""
        ...


@dataclass(frozen=True, slots=True)
class DpopProof:
    jkt: str  # RFC 7638 SHA-256 thumbprint of the proof's public jwk, base64url
    jti: str
    htm: str
    htu: str
    iat: int
    public_jwk: Mapping[str, Any]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of a proof that accompanies ``access_token`` (RFC 9449 §4.2)."""
    return _b64(hashlib.sha256(access_token.encode("ascii")).digest())


def single_dpop_header(values: Sequence[str]) -> str | None:
    """The one ``DPoP`` header of a request (all its values, e.g. ``headers.getlist("DPoP")``),
    ``None`` when there is none. §4.3: more than one is refused; so is a value that an
    intermediary folded from several (a compact JWS has no comma)."""
    if len(values) > 1 or (values and "," in values[0]):
        raise InvalidDpopProof("more than one DPoP header")
    return values[0].strip() if values else None


def _normalise_path(path: str) -> str:
    # RFC 3986 §6.2.2: percent-encodings in upper case, unreserved characters decoded.
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PERCENT.sub(fix, path) or "/"


def normalise_htu(url: str) -> str | None:
    """``url`` without query and fragment, in one spelling per resource (scheme and host in
    lower case, no default port); ``None`` when it is not an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{netloc}{_normalise_path(parts.path)}"


class DpopNonces:
    """Stateless server nonces (§8, §9): ``window || HMAC(key, window)``, valid in the time
    window they were made in and the next one, so any process holding the instance key accepts
    any other's nonce without a shared table. The first key makes nonces; all keys check them
    (an instance-key rotation keeps recent nonces valid)."""

    def __init__(
        self, keys: Sequence[bytes], *, window: int = 300, clock: Callable[[], float] = time.time
    ) -> None:
        if not keys:
            raise ValueError("DpopNonces needs at least one key")
        self._keys = tuple(keys)
        self.window = window
        self._clock = clock

    def _mac(self, key: bytes, window: int) -> bytes:
        message = b"authward-dpop-nonce\x00" + window.to_bytes(8, "big")
        return hmac.new(key, message, hashlib.sha256).digest()[:16]

    def current(self) -> str:
        window = int(self._clock()) // self.window
        return _b64(window.to_bytes(8, "big") + self._mac(self._keys[0], window))

    def is_valid(self, nonce: str) -> bool:
        try:
            raw = b64url_decode(nonce) if len(nonce) == 32 else b""
        except (ValueError, binascii.Error):
            return False
        if len(raw) != 24:
            return False
        window = int.from_bytes(raw[:8], "big")
        if not 0 <= int(self._clock()) // self.window - window <= 1:
            return False
        return any(hmac.compare_digest(raw[8:], self._mac(k, window)) for k in self._keys)


@dataclass(frozen=True, slots=True)
class _ProofKey:
    """What a proof header yields once checked: its key, thumbprint and public JWK."""

    alg: str
    key: VerifyKey
    jkt: str
    jwk: Mapping[str, Any]


def _header_key(head: str, algorithms: frozenset[str]) -> _ProofKey:
    try:
        header = json.loads(b64url_decode(head).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidDpopProof("the DPoP proof is malformed") from None
    if not isinstance(header, dict):
        raise InvalidDpopProof("the DPoP proof's header is not a JSON object")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != TYP:
        raise InvalidDpopProof(f"the DPoP proof's typ must be {TYP}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise InvalidDpopProof(
            f"the DPoP proof's alg must be one of {', '.join(sorted(algorithms))}"
        )
    if "crit" in header:
        raise InvalidDpopProof("the DPoP proof uses critical header extensions")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidDpopProof("the DPoP proof has no jwk header")
    if _PRIVATE_MEMBERS.intersection(jwk):
        raise InvalidDpopProof("the DPoP proof's jwk contains a private key")
    try:
        # kid is not part of a proof; the verify key only needs one to be named.
        key = verify_key_from_jwk({**jwk, "kid": "dpop"}, alg)
        jkt = JWKRegistry.import_key(dict(jwk)).thumbprint()
    except (JoseError, ValueError, TypeError, KeyError):
        raise InvalidDpopProof(f"the DPoP proof's jwk is not a usable {alg} public key") from None
    return _ProofKey(alg, key, jkt, MappingProxyType(dict(jwk)))


class DpopVerifier:
    """Checks DPoP proofs; one per server process, shared by the token endpoint and resources.

    ``require_nonce`` is the default of :meth:`verify`'s argument (``AUTHWARD_DPOP_REQUIRE_NONCE``).
    A proof is accepted from ``iat - max_skew`` to ``iat + max_age`` and its ``jti`` is
    remembered that long.
    """

    def __init__(
        self,
        jtis: JtiStore,
        nonces: DpopNonces,
        *,
        require_nonce: bool = False,
        max_age: int = 60,
        max_skew: int = 5,
        algorithms: Sequence[str] = ALGORITHMS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unknown = set(algorithms) - set(ALGORITHMS)
        if unknown:
            raise ValueError(f"unsupported DPoP algorithms: {', '.join(sorted(unknown))}")
        self._jtis = jtis
        self._nonces = nonces
        self.require_nonce = require_nonce
        self.max_age = max_age
        self.max_skew = max_skew
        self.algorithms = tuple(algorithms)
        self._allowed = frozenset(algorithms)
        self._clock = clock
        self._headers: dict[str, _ProofKey] = {}

    def nonce(self) -> str:
        """A fresh server nonce to send as ``DPoP-Nonce``."""
        return self._nonces.current()

    def _proof_key(self, head: str) -> _ProofKey:
        found = self._headers.get(head)
        if found is None:
            found = _header_key(head, self._allowed)
            if len(self._headers) >= _HEADER_CACHE_SIZE:
                del self._headers[next(iter(self._headers))]  # oldest first
            self._headers[head] = found
        return found

    async def verify(
        self,
        proof: str | None,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        expected_jkt: str | None = None,
        require_nonce: bool | None = None,
    ) -> DpopProof:
        """Every check of RFC 9449 §4.3 (and §7.1 with ``access_token``/``expected_jkt``).

        ``require_nonce=None`` uses the verifier's setting. Raises :class:`InvalidDpopProof`,
        or :class:`UseDpopNonce` carrying a fresh nonce for the client to retry with."""
        if not proof:
            raise InvalidDpopProof("the request has no DPoP proof")
        if len(proof) > MAX_PROOF_LENGTH:
            raise InvalidDpopProof("the DPoP proof is too large")
        try:
            head, payload, signature = compact_segments(proof)
        except TokenError:
            # Three segments of canonical base64url, nothing else: one proof, one spelling.
            if proof.count(".") != 2:
                raise InvalidDpopProof("the DPoP proof is not a signed JWT") from None
            raise InvalidDpopProof("the DPoP proof is malformed") from None
        key = self._proof_key(head)
        try:
            key.key.check(b64url_decode(signature), f"{head}.{payload}".encode())
            claims = json.loads(b64url_decode(payload).decode())
        except InvalidSignature:
            raise InvalidDpopProof("the DPoP proof's signature is not valid") from None
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidDpopProof("the DPoP proof is malformed") from None
        if not isinstance(claims, dict):
            raise InvalidDpopProof("the DPoP proof's payload is not a JSON object")
        checked = self._check_claims(claims, method=method, url=url)
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str):
                raise InvalidDpopProof("the DPoP proof has no ath for the access token")
            if not hmac.compare_digest(ath.encode(), access_token_hash(access_token).encode()):
                raise InvalidDpopProof("the DPoP proof's ath does not match the access token")
        if expected_jkt is not None and not hmac.compare_digest(
            key.jkt.encode(), expected_jkt.encode()
        ):
            raise InvalidDpopProof("the DPoP proof's key is not the one the token is bound to")
        self._check_nonce(claims.get("nonce"), require_nonce)
        jti, iat = checked
        seen = hashlib.sha256(f"{key.jkt}\x00{jti}".encode()).hexdigest()
        if not await self._jtis.remember(seen, iat + self.max_age + self.max_skew):
            raise InvalidDpopProof("DPoP proof replayed")
        return DpopProof(key.jkt, jti, method, str(claims["htu"]), iat, key.jwk)

    def _check_claims(self, claims: dict[str, Any], *, method: str, url: str) -> tuple[str, int]:
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise InvalidDpopProof(f"the DPoP proof needs a jti of 1 to {MAX_JTI_LENGTH} chars")
        if claims.get("htm") != method:
            raise InvalidDpopProof("the DPoP proof's htm is not this request's method")
        htu = claims.get("htu")
        wanted = normalise_htu(url)
        if wanted is None:
            raise InvalidDpopProof("the request URL cannot be checked against the DPoP proof")
        if not isinstance(htu, str) or normalise_htu(htu) != wanted:
            raise InvalidDpopProof("the DPoP proof's htu is not this request's URL")
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise InvalidDpopProof("the DPoP proof has no iat")
        now = self._clock()
        if iat > now + self.max_skew:
            raise InvalidDpopProof("the DPoP proof's iat is in the future")
        if iat < now - self.max_age:
            raise InvalidDpopProof("the DPoP proof is too old")
        # RFC 9449 defines no nbf, but a proof that carries one is not valid before it
        # (RFC 7519 §4.1.5), with the same skew as iat.
        nbf = claims.get("nbf", 0)
        if not isinstance(nbf, int | float) or isinstance(nbf, bool):
            raise InvalidDpopProof("the DPoP proof's nbf is not a number")
        if nbf > now + self.max_skew:
            raise InvalidDpopProof("the DPoP proof is not valid yet (nbf)")
        return jti, int(iat)

    def _check_nonce(self, nonce: object, require: bool | None) -> None:
        if nonce is None:
            if require if require is not None else self.require_nonce:
                raise UseDpopNonce("a DPoP nonce is required (use the DPoP-Nonce)", self.nonce())
            return
        # A nonce sent unasked is still checked: it claims a freshness this server must vouch for.
        if not isinstance(nonce, str) or not self._nonces.is_valid(nonce):
            raise UseDpopNonce("the DPoP proof's nonce is stale or unknown", self.nonce())
