"""Find the JobClients an app module defines next to its config (no second registration step).

Kept here rather than in ``authward.config``: the config layer imports nothing of ours."""

from __future__ import annotations

__all__ = ["find_job_clients"]

from types import ModuleType

from authward.errors import ConfigError
from authward.jobs.client import JobClient


def find_job_clients(module: ModuleType) -> list[JobClient]:
    """The module's JobClients (module-level names, each object once), in definition order."""
    found: dict[int, JobClient] = {}
    for value in vars(module).values():
        if isinstance(value, JobClient):
            found.setdefault(id(value), value)
    ids = [c.id for c in found.values()]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(
            f"{module.__name__} defines two job clients with the id {duplicates[0]!r}",
            path="JobClient.id",
        )
    return list(found.values())
