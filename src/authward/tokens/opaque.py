"""Opaque, prefixed secrets: API keys (``ak_``), M2M tokens (``mt_``), machine secret keys
(``msk_``)...

Format: prefix + 43 base62 characters (32 random bytes, 256 bits) + a 6-character base62 CRC32
of everything before it. The prefix says what a leaked string is; the checksum refuses a
mistyped, truncated or bit-flipped secret before any lookup. At rest only the SHA-256 digest is
kept, and a short hint (the last characters) for people to recognise it by.
"""

from __future__ import annotations

__all__ = ["BASE62", "digest", "generate", "hint", "is_well_formed"]

import hashlib
import secrets
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_BYTES = 32
_BODY_CHARS = 43  # 62**43 > 2**256
_CHECK_CHARS = 6  # 62**6 > 2**32
_HINT_CHARS = 4


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, d = divmod(value, 62)
        chars.append(BASE62[d])
    assert value == 0
    return "".join(reversed(chars))


def _checksum(head: str) -> str:
    return _base62(zlib.crc32(head.encode()), _CHECK_CHARS)


def generate(prefix: str) -> str:
    """A fresh secret with ``prefix`` (nothing is stored)."""
    body = _base62(int.from_bytes(secrets.token_bytes(_RANDOM_BYTES), "big"), _BODY_CHARS)
    head = prefix + body
    return head + _checksum(head)


def is_well_formed(secret: str, prefix: str) -> bool:
    """Prefix, length, alphabet and checksum: everything that can be checked without a lookup."""
    if len(secret) != len(prefix) + _BODY_CHARS + _CHECK_CHARS or not secret.startswith(prefix):
        return False
    rest = secret[len(prefix) :]
    if not (rest.isascii() and rest.isalnum()):
        return False
    return _checksum(secret[:-_CHECK_CHARS]) == secret[-_CHECK_CHARS:]


def digest(secret: str) -> str:
    """What the store keeps: the SHA-256 of the secret, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hint(secret: str) -> str:
    return secret[-_HINT_CHARS:]
