"""AES-256-GCM for secrets we must read back (client secrets, private keys, third-party tokens).

Each ciphertext names the key that sealed it, so the instance key can rotate: the newest key
seals, older keys still open. The associated data binds a ciphertext to the row and column it
was written for, so a value copied into another row does not decrypt.
"""

from __future__ import annotations

__all__ = ["SecretBox", "key_id"]

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authward.errors import SettingsError

_VERSION = b"\x01"
_KEY_ID_LEN = 8
_NONCE_LEN = 12


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"authward-instance-key-id\x00" + key).digest()[:_KEY_ID_LEN]


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys or any(len(k) != 32 for k in keys):
            raise ValueError("SecretBox needs one or more 32-byte keys")
        self._primary = keys[0]
        self._by_id = {key_id(k): AESGCM(k) for k in keys}
        self.primary_id = key_id(self._primary)
        self._keys = tuple(keys)

    def derive_keys(self, purpose: str) -> list[bytes]:
        """32-byte keys for another use of the instance key (e.g. MACs every process of this
        instance can check), newest first; ``purpose`` separates the uses."""
        return [
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(k)
            for k in self._keys
        ]

    def seal(self, plaintext: bytes, aad: str) -> bytes:
        nonce = os.urandom(_NONCE_LEN)
        sealed = self._by_id[self.primary_id].encrypt(nonce, plaintext, aad.encode())
        return _VERSION + self.primary_id + nonce + sealed

    def open(self, blob: bytes, aad: str) -> bytes:
        if blob[:1] != _VERSION:
            raise SettingsError("a stored secret has an unknown format")
        kid = blob[1 : 1 + _KEY_ID_LEN]
        aead = self._by_id.get(kid)
        if aead is None:
            raise SettingsError(
                "a stored secret was sealed with an instance key this server does not have "
                "(set AUTHWARD_SECRET_KEY or AUTHWARD_PREVIOUS_SECRET_KEYS or restore the key file)"
            )
        nonce = blob[1 + _KEY_ID_LEN : 1 + _KEY_ID_LEN + _NONCE_LEN]
        try:
            return aead.decrypt(nonce, blob[1 + _KEY_ID_LEN + _NONCE_LEN :], aad.encode())
        except InvalidTag:
            raise SettingsError(f"a stored secret failed its integrity check ({aad})") from None
