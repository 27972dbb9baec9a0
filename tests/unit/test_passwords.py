"""Password hashing runs on a bounded pool of its own threads."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from argon2 import PasswordHasher

from authward.users.passwords import HASHING_THREAD, Passwords, _usable_cpus


class _Watched(PasswordHasher):
    """A cheap hasher that notes how many verifications run at the same moment, and where."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.running = 0
        self.most = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(0.02)  # long enough for the burst's calls to overlap if they could
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


async def test_a_burst_of_verifications_runs_at_most_one_per_cpu_at_a_time() -> None:
    hasher = _Watched()
    passwords = Passwords(hasher)
    stored = await passwords.hash("correct horse battery")
    results = await asyncio.gather(
        *(passwords.verify(stored, "correct horse battery") for _ in range(12)),
        *(passwords.verify(stored, "wrong horse battery") for _ in range(4)),
    )
    assert results == [True] * 12 + [False] * 4
    assert hasher.most <= _usable_cpus()
    assert all(name.startswith(HASHING_THREAD) for name in hasher.threads)


def test_the_hashing_threads_carry_their_name_in_the_os() -> None:
    async def hash_once() -> str:
        return await Passwords(_Watched()).hash("correct horse battery")

    asyncio.run(hash_once())
    names = [task.read_text().strip() for task in Path("/proc/self/task").glob("*/comm")]
    assert HASHING_THREAD in names
