"""The instance key: ``AUTHWARD_SECRET_KEY``, or on the embedded default a key file made once.

A key file is created only for a store that holds no secrets yet; if the store already holds
secrets and the file is gone, starting fails with a clear message instead of minting a new key
that could not read them.
"""

from __future__ import annotations

__all__ = ["InstanceKeys", "derive_key", "instance_keys", "read_or_create_key_file"]

import base64
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from authward.errors import SettingsError


def derive_key(secret: str) -> bytes:
    """Any high-entropy string becomes a 32-byte AES key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"authward-instance-key", info=b"aes-256-gcm"
    ).derive(secret.encode())


@dataclass(frozen=True, slots=True)
class InstanceKeys:
    keys: list[bytes]
    source: str


def read_or_create_key_file(path: Path, *, may_create: bool) -> bytes:
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SettingsError(
                f"key file {path} is readable by other users (mode {mode:o}); run: chmod 600 {path}"
            )
        raw = path.read_text().strip()
        try:
            key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except ValueError:
            key = b""
        if len(key) != 32:
            raise SettingsError(f"key file {path} is not an authward key (32 bytes, base64url)")
        return key
    if not may_create:
        raise SettingsError(
            f"key file {path} is missing, but the store holds secrets encrypted with it: "
            "restore the file or set AUTHWARD_SECRET_KEY to the key that was used"
        )
    key = os.urandom(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.urlsafe_b64encode(key).decode().rstrip("=") + "\n")
    return key


def instance_keys(
    *,
    secret_key: SecretStr | None,
    previous_secret_keys: SecretStr | None,
    key_file: Path,
    may_create: bool,
) -> InstanceKeys:
    """``AUTHWARD_SECRET_KEY`` if set, else the key file (created only when ``may_create``);
    ``previous_secret_keys`` (comma-separated) still open what they sealed."""
    previous = []
    if previous_secret_keys is not None:
        previous = [
            derive_key(k.strip())
            for k in previous_secret_keys.get_secret_value().split(",")
            if k.strip()
        ]
    if secret_key is not None:
        primary = derive_key(secret_key.get_secret_value())
        return InstanceKeys([primary, *previous], "AUTHWARD_SECRET_KEY")
    primary = read_or_create_key_file(key_file, may_create=may_create)
    return InstanceKeys([primary, *previous], f"key file {key_file}")
