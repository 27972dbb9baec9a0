"""Asymmetric signing keys (Ed25519 by default, ES256 available) and the public JWK Set.

``kid`` is the key's RFC 7638 thumbprint, so the same key always has the same id.
"""

from __future__ import annotations

__all__ = ["ALGORITHMS", "SigningKey", "generate_signing_key", "load_signing_key"]

import warnings
from dataclasses import dataclass
from typing import Any

from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, KeyParameters, OKPKey

from authward.settings import SigningAlg

# RFC 9864 names Ed25519 signatures "Ed25519", but verifiers in the field (PyJWT, jose, most
# gateways) only know "EdDSA" today; we keep emitting "EdDSA" and silence joserfc's notice.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

#: The only algorithms a token may claim: asymmetric, never "none", never HMAC.
ALGORITHMS: tuple[SigningAlg, ...] = ("EdDSA", "ES256")

Key = OKPKey | ECKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: SigningAlg
    key: Key

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    @property
    def private_pem(self) -> bytes:
        return self.key.as_pem(private=True)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


def _params(alg: SigningAlg, kid: str | None = None) -> KeyParameters:
    params: KeyParameters = {"use": "sig", "alg": alg}
    if kid:
        params["kid"] = kid
    return params


def generate_signing_key(alg: SigningAlg) -> SigningKey:
    key: Key
    if alg == "EdDSA":
        key = OKPKey.generate_key("Ed25519", parameters=_params(alg))
    else:
        key = ECKey.generate_key("P-256", parameters=_params(alg))
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
    raise ValueError(f"unsupported signing algorithm {alg!r}")
