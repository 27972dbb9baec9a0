"""Password hashing: argon2id with OWASP's parameters, always off the event loop.

OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB (19456 KiB), t=2, p=1. Hashes are PHC
strings (``$argon2id$v=19$m=19456,t=2,p=1$salt$hash``), so a stored hash says how it was made and
:meth:`Passwords.needs_rehash` can tell when the parameters changed.
"""

from __future__ import annotations

__all__ = [
    "HASHING_THREAD",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "Passwords",
    "check_password",
    "owasp_hasher",
]

import asyncio
import ctypes
import os
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from authward.users.errors import InvalidPassword

MIN_PASSWORD_LENGTH = 8
#: Long enough for any passphrase or manager-generated password; bounds the work per attempt.
MAX_PASSWORD_LENGTH = 1024


def owasp_hasher() -> PasswordHasher:
    return PasswordHasher(
        time_cost=2, memory_cost=19_456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
    )


def check_password(password: str) -> None:
    """Refuse a new password that breaks the policy (NIST SP 800-63B: length, no composition
    rules)."""
    if not isinstance(password, str):
        raise InvalidPassword("the password must be text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidPassword(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidPassword(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: The hashing threads' name, also in the OS (``top -H``, ``ps -L``, /proc/PID/task/*/comm).
HASHING_THREAD = "authward-argon2"


def _name_os_thread() -> None:
    if sys.platform == "linux":  # prctl(PR_SET_NAME); the kernel keeps 15 bytes
        ctypes.CDLL(None).prctl(15, HASHING_THREAD.encode(), 0, 0, 0)


# One hashing thread per CPU the process may use, shared by every Passwords: more at once would
# only time-slice the same cores and hold 19 MiB each, so a burst of sign-ins queues here, in
# order, instead of spreading out over asyncio's default pool (and crowding what else uses it).
_pool: ThreadPoolExecutor | None = None


def _hashing_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_usable_cpus(), HASHING_THREAD, _name_os_thread)
    return _pool


class Passwords:
    """Hash and verify in a hashing thread (argon2 holds the CPU for tens of milliseconds)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or owasp_hasher()
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            _hashing_pool(), self._hasher.hash, password
        )

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches. With no hash (unknown user, no local password) the
        same work is done against a dummy hash, so timing does not tell the cases apart."""
        if password_hash is None:
            password_hash = await self._dummy_hash()
        # Stored passwords are never longer, so cutting keeps the work bounded and the answer.
        candidate = password[: MAX_PASSWORD_LENGTH + 1]
        return await asyncio.get_running_loop().run_in_executor(
            _hashing_pool(), self._verify, password_hash, candidate
        )

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(32))
        return self._dummy
