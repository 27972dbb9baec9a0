"""Asymmetric signing keys and the public JWK Set.

Access tokens are signed with Ed25519 (default) or ES256; ID tokens also with RS256, which
OpenID Connect requires every provider to offer (decision 034). ``kid`` is the key's RFC 7638
thumbprint, so the same key always has the same id.
"""

from __future__ import annotations

__all__ = [
    "ALGORITHMS",
    "RSA_KEY_BITS",
    "KeyAlg",
    "SigningKey",
    "generate_signing_key",
    "load_signing_key",
]

import warnings
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, KeyParameters, OKPKey, RSAKey

from authward.tokens.jws_verify import MIN_RSA_BITS

# RFC 9864 names Ed25519 signatures "Ed25519", but verifiers in the field (PyJWT, jose, most
# gateways) only know "EdDSA" today; we keep emitting "EdDSA" and silence joserfc's notice.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

KeyAlg = Literal["EdDSA", "ES256", "RS256"]
#: The only algorithms our keys sign with: asymmetric, never "none", never HMAC.
ALGORITHMS: tuple[KeyAlg, ...] = ("EdDSA", "ES256", "RS256")
#: RFC 7518 §3.3's minimum: larger keys would only slow every sign-in (signing cost grows with
#: the cube of the size) while keys are rotated anyway.
RSA_KEY_BITS = 2048

Key = OKPKey | ECKey | RSAKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: KeyAlg
    key: Key

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    @property
    def private_pem(self) -> bytes:
        return self.key.as_pem(private=True)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


def _params(alg: KeyAlg, kid: str | None = None) -> KeyParameters:
    params: KeyParameters = {"use": "sig", "alg": alg}
    if kid:
        params["kid"] = kid
    return params


def generate_signing_key(alg: KeyAlg) -> SigningKey:
    key: Key
    if alg == "EdDSA":
        key = OKPKey.generate_key("Ed25519", parameters=_params(alg))
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=_params(alg))
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        key = RSAKey.import_key(private, parameters=_params(alg))
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    key.ensure_kid()
    assert key.kid is not None
    return SigningKey(kid=key.kid, alg=alg, key=key)


def load_signing_key(kid: str, alg: str, private_pem: bytes) -> SigningKey:
    key: Key
    if alg == "EdDSA":
        key = OKPKey.import_key(private_pem, parameters=_params("EdDSA", kid))
        return SigningKey(kid=kid, alg="EdDSA", key=key)
    if alg == "ES256":
        key = ECKey.import_key(private_pem, parameters=_params("ES256", kid))
        return SigningKey(kid=kid, alg="ES256", key=key)
    if alg == "RS256":
        key = RSAKey.import_key(private_pem, parameters=_params("RS256", kid))
        private = key.get_op_key("sign")
        if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < MIN_RSA_BITS:
            raise ValueError(f"an RS256 key needs at least {MIN_RSA_BITS} bits")
        return SigningKey(kid=kid, alg="RS256", key=key)
    raise ValueError(f"unsupported signing algorithm {alg!r}")
