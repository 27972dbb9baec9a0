"""Compact JWS verification on the hot path, straight on ``cryptography``.

joserfc signs and handles JWKs for us; verifying every request through it cost about 2x the bare
signature check (docs/benchmarks.md), so this module does the few steps RFC 7515 §5.2 asks for
itself: split into exactly three segments of canonical base64url (any other spelling of the same
bytes is refused, as joserfc refuses it), decode the header, pick the key by ``kid``, require the
header's ``alg`` to be the one that key is registered for (no algorithm confusion: never
``none``, never HMAC), check the signature, decode the payload. See
docs/decisions/002-signing-keys-and-tokens.md.

Our own keys are Ed25519 and ES256. Keys of external OpenID providers (``oauth/issuer_keys.py``,
docs/decisions/007) may also be RSA (RS256/384/512, PS256/384/512, at least 2048 bits) or ECDSA
on P-384 / P-521; each :class:`VerifyKey` is still bound to exactly one algorithm.
"""

from __future__ import annotations

__all__ = [
    "MIN_RSA_BITS",
    "SUPPORTED_ALGS",
    "Compact",
    "UnknownKey",
    "VerifyKey",
    "b64url_decode",
    "compact_segments",
    "jwk_algorithms",
    "parse_compact",
    "verify_compact",
    "verify_key_from_jwk",
    "verify_signed",
]

import binascii
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
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


_URLSAFE = bytes.maketrans(b"-_", b"+/")
#: A C JSON parser: the payload's decode was the largest piece of Python left per verification.
#: Stricter than json.loads (no NaN, no lone surrogates); duplicate names keep the last, as
#: RFC 7515 §5.2 allows. Its errors are ValueErrors.
_decode_json = msgspec.json.Decoder().decode

#: Canonical base64url (RFC 7515 §2, RFC 4648 §3.5): its alphabet only, no padding, no length
#: of 1 mod 4, and the unused low bits of a last partial character zero. Every byte string has
#: exactly one such spelling, so a token has one spelling too: a lenient decoder (binascii skips
#: characters outside the alphabet, stops at "=", takes "+/") accepted "~", "==" and "+/".
#: ``[A-Za-z]`` matches ASCII letters only, and fullmatch lets no trailing newline through.
_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
#: One pass over the token checks the alphabet and splits it; cheaper than split() followed by a
#: check of each segment.
_COMPACT = re.compile(r"([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)")
#: What a segment may end with, by its length mod 4: anything (whole groups of four), nothing
#: (no byte string encodes to that length), a character whose low 4 or 2 bits are zero.
_LAST_CHARS: tuple[str | None, ...] = (None, "", "AQgw", "AEIMQUYcgkosw048")
_MALFORMED = "token is malformed (not canonical base64url)"


def b64url_decode(part: str) -> bytes:
    """The bytes of a canonical base64url string; ValueError for any other spelling."""
    allowed = _LAST_CHARS[len(part) & 3]
    if _ALPHABET.fullmatch(part) is None or (allowed is not None and part[-1] not in allowed):
        raise ValueError("not canonical base64url")
    return _b64(part)


def compact_segments(token: object) -> tuple[str, str, str]:
    """The three segments of a compact JWS, each canonical base64url; TokenError otherwise."""
    match = _COMPACT.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        if not isinstance(token, str) or token.count(".") != 2:
            raise TokenError("token-invalid", "not a signed JWT")
        raise TokenError("token-invalid", _MALFORMED)
    head, payload, signature = match.groups()
    # The last character of each segment, inline: a function call per segment cost more.
    for segment in (head, payload, signature):
        allowed = _LAST_CHARS[len(segment) & 3]
        if allowed is not None and segment[-1] not in allowed:
            raise TokenError("token-invalid", _MALFORMED)
    return head, payload, signature


def _b64(part: str) -> bytes:
    # Only for text already found canonical: binascii itself skips characters outside the
    # alphabet and any surplus padding.
    return binascii.a2b_base64(part.encode("ascii").translate(_URLSAFE) + b"==")


def _json(part: str) -> Any:
    # Straight from the bytes: the decoder checks that they are UTF-8.
    return _decode_json(_b64(part))


@functools.lru_cache(maxsize=256)
def _header(segment: str) -> Mapping[str, Any]:
    """A protected header, decoded once: every token of a key carries the same one. Read-only,
    since all tokens with this header share it. Malformed ones raise (and are not cached)."""
    header = _json(segment)
    if not isinstance(header, dict):
        raise TokenError("token-invalid", "token header is not a JSON object")
    return MappingProxyType(header)


def _ed25519_check(public: ed25519.Ed25519PublicKey) -> Callable[[bytes, bytes], None]:
    return public.verify


#: ECDSA algorithms: curve name, hash, and the size of each of R and S in the signature.
_ECDSA: dict[str, tuple[str, type[hashes.HashAlgorithm], int]] = {
    "ES256": ("P-256", hashes.SHA256, 32),
    "ES384": ("P-384", hashes.SHA384, 48),
    "ES512": ("P-521", hashes.SHA512, 66),
}
_RSA_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_RSA_ALGS = tuple(f"{kind}{bits}" for kind in ("RS", "PS") for bits in _RSA_HASHES)
#: RFC 8037 "EdDSA", and RFC 9864's fully specified "Ed25519" for the same signatures.
_EDDSA_ALGS = ("EdDSA", "Ed25519")
#: Every JWS algorithm a VerifyKey can be made for. Never ``none``, never HMAC.
SUPPORTED_ALGS = frozenset((*_ECDSA, *_RSA_ALGS, *_EDDSA_ALGS))
#: Smaller RSA keys are refused (RFC 7518 §3.3 requires 2048 bits).
MIN_RSA_BITS = 2048


def _ecdsa_check(
    public: ec.EllipticCurvePublicKey, hash_type: type[hashes.HashAlgorithm], size: int
) -> Callable[[bytes, bytes], None]:
    ecdsa = ec.ECDSA(hash_type())
    expected = 2 * size

    def check(signature: bytes, message: bytes) -> None:
        # RFC 7518 §3.4: the JWS signature is R || S, fixed size each, not DER.
        if len(signature) != expected:
            raise InvalidSignature
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        public.verify(encode_dss_signature(r, s), message, ecdsa)

    return check


def _rsa_check(public: rsa.RSAPublicKey, alg: str) -> Callable[[bytes, bytes], None]:
    hash_type = _RSA_HASHES[alg[2:]]
    pad: padding.AsymmetricPadding
    if alg.startswith("PS"):
        # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
        pad = padding.PSS(mgf=padding.MGF1(hash_type()), salt_length=padding.PSS.DIGEST_LENGTH)
    else:
        pad = padding.PKCS1v15()

    def check(signature: bytes, message: bytes) -> None:
        public.verify(signature, message, pad, hash_type())

    return check


def _rsa_public(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey:
    n, e = jwk.get("n"), jwk.get("e")
    if not isinstance(n, str) or not isinstance(e, str):
        raise ValueError("an RSA key needs n and e")
    public = rsa.RSAPublicNumbers(
        int.from_bytes(b64url_decode(e), "big"), int.from_bytes(b64url_decode(n), "big")
    ).public_key()
    if public.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA key of {public.key_size} bits (at least {MIN_RSA_BITS} required)")
    return public


def jwk_algorithms(jwk: Mapping[str, Any]) -> tuple[str, ...]:
    """The algorithms a public JWK may verify: its ``alg`` alone when it names one we support,
    otherwise (RFC 7517 §4.4: ``alg`` is optional) those its ``kty`` and ``crv`` allow."""
    kty, crv, alg = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    if kty == "RSA":
        family: tuple[str, ...] = _RSA_ALGS
    elif kty == "EC":
        family = tuple(name for name, (curve, _, _) in _ECDSA.items() if curve == crv)
    elif kty == "OKP" and crv == "Ed25519":
        family = _EDDSA_ALGS
    else:
        family = ()
    if alg is not None:
        return (alg,) if alg in family else ()
    return family


def verify_key_from_jwk(jwk: Mapping[str, Any], alg: str | None = None) -> VerifyKey:
    """A public JWK bound to its one algorithm: ``alg``, or the JWK's own ``alg`` member (they
    must agree when both are given). Raises ValueError for a key that cannot verify ``alg``, an
    RSA key under :data:`MIN_RSA_BITS`, or a JWK without a ``kid``."""
    kid, declared = jwk.get("kid"), jwk.get("alg")
    if not isinstance(kid, str):
        raise ValueError("a published key needs a kid")
    if alg is None:
        alg = declared
    elif declared is not None and declared != alg:
        raise ValueError(f"the key is for {declared!r}, not {alg!r}")
    if not isinstance(alg, str) or alg not in jwk_algorithms({**jwk, "alg": alg}):
        raise ValueError(f"unsupported key (alg {alg!r}, kty {jwk.get('kty')!r})")
    if alg in _EDDSA_ALGS:
        okp = OKPKey.import_key(dict(jwk)).get_op_key("verify")
        assert isinstance(okp, ed25519.Ed25519PublicKey)
        return VerifyKey(kid, alg, _ed25519_check(okp))
    if alg in _ECDSA:
        _, hash_type, size = _ECDSA[alg]
        ecpub = ECKey.import_key(dict(jwk)).get_op_key("verify")
        assert isinstance(ecpub, ec.EllipticCurvePublicKey)
        return VerifyKey(kid, alg, _ecdsa_check(ecpub, hash_type, size))
    return VerifyKey(kid, alg, _rsa_check(_rsa_public(jwk), alg))


class UnknownKey(TokenError):
    """The token names no key of ``keys`` (a verifier may reload its keys and try again)."""

    def __init__(self) -> None:
        super().__init__("token-invalid", "token was not signed by a key of this issuer")


def _split(token: object) -> tuple[Mapping[str, Any], bytes, bytes, str]:
    head, payload, signature = compact_segments(token)
    try:
        header = _header(head)
    except ValueError:
        raise TokenError("token-invalid", "token is malformed") from None
    return header, f"{head}.{payload}".encode(), _b64(signature), payload


def parse_compact(token: object) -> Compact:
    return Compact(*_split(token))


def verify_compact(compact: Compact, keys: Mapping[str, VerifyKey]) -> dict[str, Any]:
    """The payload of a token whose signature one of ``keys`` made, as a JSON object."""
    return _verified(
        compact.header, compact.signing_input, compact.signature, compact.payload, keys
    )


def verify_signed(
    token: object, keys: Mapping[str, VerifyKey]
) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """:func:`parse_compact` then :func:`verify_compact`, without the intermediate object (the
    verifiers' hot path): the token's header and payload."""
    header, signing_input, signature, payload = _split(token)
    return header, _verified(header, signing_input, signature, payload, keys)


def _verified(
    header: Mapping[str, Any],
    signing_input: bytes,
    signature: bytes,
    payload: str,
    keys: Mapping[str, VerifyKey],
) -> dict[str, Any]:
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise UnknownKey
    if header.get("alg") != key.alg:
        raise TokenError("token-invalid", "token's alg does not match its key")
    if "crit" in header:
        # RFC 7515 §4.1.11: we understand no extensions, so a critical one must be refused.
        raise TokenError("token-invalid", "token uses critical header extensions")
    try:
        key.check(signature, signing_input)
    except InvalidSignature:
        raise TokenError("token-invalid-signature", "token signature is not valid") from None
    try:
        claims = _json(payload)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise TokenError("token-invalid", "token payload is not JSON") from None
    if not isinstance(claims, dict):
        raise TokenError("token-invalid", "token payload is not a JSON object")
    return claims
