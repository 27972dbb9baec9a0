"""``ctx``: what a run knows about itself (the seed's TriggerContext)."""

from __future__ import annotations

__all__ = ["Account", "EventRef", "JobRef", "RunContext"]

from dataclasses import dataclass
from datetime import datetime

from authward.principal import Principal


@dataclass(frozen=True, slots=True)
class Account:
    """The account a run belongs to: whose credentials its integrations use."""

    id: str


@dataclass(frozen=True, slots=True)
class JobRef:
    id: str
    version: str


@dataclass(frozen=True, slots=True)
class EventRef:
    id: str | None
    name: str | None
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class RunContext:
    id: str
    job: JobRef
    event: EventRef
    account: Account | None
    environment: str
    #: The principal the run acts as (also the current principal while it runs), or None.
    user: Principal | None
    #: How many times a worker has claimed this run, from 1 (resumes and take-overs count).
    attempt: int
