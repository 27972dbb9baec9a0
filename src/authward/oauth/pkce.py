"""PKCE at the token endpoint, RFC 7636 §4.6 (S256 only: the authorize endpoint refuses plain).

§4.1: the verifier is 43 to 128 characters of ``[A-Za-z0-9-._~]``; §4.6: the server computes
``BASE64URL(SHA256(verifier))`` and compares it with the stored challenge.
"""

from __future__ import annotations

__all__ = ["s256_challenge", "verify_s256"]

import base64
import hashlib
import hmac
import re

from authward.oauth.errors import InvalidGrant, InvalidRequest

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def s256_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify_s256(verifier: str | None, challenge: str) -> None:
    if verifier is None:
        raise InvalidRequest("code_verifier is required (PKCE)")
    if not _VERIFIER.fullmatch(verifier):
        raise InvalidRequest("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")
    if not hmac.compare_digest(s256_challenge(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
