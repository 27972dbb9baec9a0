"""Compact JWS verification on the hot path, straight on ``cryptography``.

joserfc signs and handles JWKs for us; verifying every request through it cost about 2x the bare
signature check (docs/benchmarks.md), so this module does the few steps RFC 7515 §5.2 asks for
itself: split, decode the header, pick the key by ``kid``, require the header's ``alg`` to be the
one that key is registered for (no algorithm confusion: never ``none``, never HMAC), check the
signature, decode the payload. See docs/decisions/002-signing-keys-and-tokens.md.
"""

from __future__ import annotations

__all__ = ["Compact", "VerifyKey", "parse_compact", "verify_compact", "verify_key_from_jwk"]

import binascii
import json
from base64 import urlsafe_b64decode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.jwk import ECKey, OKPKey

from authward.errors import TokenError


@dataclass(frozen=True, slots=True)
class VerifyKey:
    kid: str
    alg: str
    #: ``check(signature, signing_input)`` raises InvalidSignature when they do not match.
    check: Callable[[bytes, bytes], None]


@dataclass(frozen=True, slots=True)
class Compact:
    header: Mapping[str, Any]
    signing_input: bytes
    signature: bytes
    payload: str


def _b64(part: str) -> bytes:
    return urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _json(part: str) -> Any:
    # Decoding to str first skips json's byte-encoding sniffing on the hot path.
    return json.loads(_b64(part).decode())


def _ed25519_check(public: ed25519.Ed25519PublicKey) -> Callable[[bytes, bytes], None]:
    return public.verify


def _es256_check(public: ec.EllipticCurvePublicKey) -> Callable[[bytes, bytes], None]:
    ecdsa = ec.ECDSA(hashes.SHA256())

    def check(signature: bytes, message: bytes) -> None:
        # RFC 7518 §3.4: the JWS signature is R || S, 32 bytes each, not DER.
        if len(signature) != 64:
            raise InvalidSignature
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        public.verify(encode_dss_signature(r, s), message, ecdsa)

    return check


def verify_key_from_jwk(jwk: Mapping[str, Any]) -> VerifyKey:
    """A public JWK as published in our JWKS, bound to its one algorithm."""
    kid, alg = jwk.get("kid"), jwk.get("alg")
    if not isinstance(kid, str):
        raise ValueError("a published key needs a kid")
    if alg == "EdDSA" and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        okp = OKPKey.import_key(dict(jwk)).get_op_key("verify")
        assert isinstance(okp, ed25519.Ed25519PublicKey)
        return VerifyKey(kid, alg, _ed25519_check(okp))
    if alg == "ES256" and jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        ecpub = ECKey.import_key(dict(jwk)).get_op_key("verify")
        assert isinstance(ecpub, ec.EllipticCurvePublicKey)
        return VerifyKey(kid, alg, _es256_check(ecpub))
    raise ValueError(f"unsupported key (alg {alg!r}, kty {jwk.get('kty')!r})")


def parse_compact(token: object) -> Compact:
    if not isinstance(token, str) or token.count(".") != 2:
        raise TokenError("token-invalid", "not a signed JWT")
    head, payload, signature = token.split(".")
    try:
        header = _json(head)
        sig = _b64(signature)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise TokenError("token-invalid", "token is malformed") from None
    if not isinstance(header, dict):
        raise TokenError("token-invalid", "token header is not a JSON object")
    return Compact(header, f"{head}.{payload}".encode(), sig, payload)


def verify_compact(compact: Compact, keys: Mapping[str, VerifyKey]) -> dict[str, Any]:
    """The payload of a token whose signature one of ``keys`` made, as a JSON object."""
    key = keys.get(compact.header.get("kid"))  # type: ignore[arg-type]
    if key is None:
        raise TokenError("token-invalid", "token was not signed by a key of this issuer")
    if compact.header.get("alg") != key.alg:
        raise TokenError("token-invalid", "token's alg does not match its key")
    if "crit" in compact.header:
        # RFC 7515 §4.1.11: we understand no extensions, so a critical one must be refused.
        raise TokenError("token-invalid", "token uses critical header extensions")
    try:
        key.check(compact.signature, compact.signing_input)
    except InvalidSignature:
        raise TokenError("token-invalid-signature", "token signature is not valid") from None
    try:
        claims = _json(compact.payload)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise TokenError("token-invalid", "token payload is not JSON") from None
    if not isinstance(claims, dict):
        raise TokenError("token-invalid", "token payload is not a JSON object")
    return claims
