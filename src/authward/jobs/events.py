"""What a run is started with, checked before anything is stored: the event, its account id,
timestamp and payload (validated against the job's schema), and the principal it acts as."""

from __future__ import annotations

__all__ = [
    "Identity",
    "check_account",
    "checked_event",
    "current_identity",
    "event_timestamp",
    "json_payload",
    "payload_for",
    "warn_unheard",
]

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from authward.jobs.errors import EventRejected
from authward.jobs.identity import describe_principal, principal_to_json
from authward.jobs.triggers import EventTrigger
from authward.principal import current_principal

if TYPE_CHECKING:
    from authward.jobs.client import Job

log = logging.getLogger("authward.jobs")

#: Who a run acts as: the dashboard's invoker column and the principal's JSON snapshot.
Identity = tuple[str | None, dict[str, Any] | None]
_EVENT_KEYS = {"name", "payload", "id", "timestamp"}


def check_account(account_id: object) -> str | None:
    if account_id is None:
        return None
    if not isinstance(account_id, str) or not account_id or len(account_id) > 200:
        raise EventRejected("account_id must be a non-empty string of at most 200 characters")
    if "\x00" in account_id:  # PostgreSQL cannot store it
        raise EventRejected("account_id must not contain a NUL character")
    return account_id


def json_payload(payload: Any) -> Any:
    try:
        return json.loads(json.dumps(payload, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise EventRejected(f"the payload is not JSON-serialisable ({exc})") from None


def event_timestamp(value: object, now: datetime) -> datetime:
    if value is None:
        return now
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise EventRejected(f"event timestamp {value!r} is not an ISO 8601 time") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise EventRejected("event timestamp must be a time-zone-aware datetime or ISO string")
    return value.astimezone(UTC)


def checked_event(event: Mapping[str, Any]) -> tuple[str, str]:
    """The event's name and id (a new one when it has none)."""
    if not isinstance(event, Mapping) or not isinstance(event.get("name"), str):
        raise EventRejected('an event is a mapping with at least a string "name"')
    unknown = sorted(set(event) - _EVENT_KEYS)
    if unknown:
        known = ", ".join(sorted(_EVENT_KEYS))
        raise EventRejected(f"unknown event field {unknown[0]!r} (known: {known})")
    event_id = event.get("id") or f"evt_{uuid.uuid4().hex}"
    if not isinstance(event_id, str) or len(event_id) > 200:
        raise EventRejected("event id must be a string of at most 200 characters")
    return event["name"], event_id


def payload_for(job: Job, payload: Any) -> Any:
    """The payload as ``job`` stores it: through its event schema, if it has one."""
    trigger = job.trigger_spec
    if isinstance(trigger, EventTrigger) and trigger.schema is not None:
        try:
            return trigger.schema.model_validate(payload).model_dump(mode="json", by_alias=True)
        except ValidationError as exc:
            raise EventRejected(
                f"payload does not match the schema of job {job.id!r}",
                json.loads(exc.json(include_url=False)),
            ) from None
    return json_payload(payload)


def current_identity() -> Identity:
    principal = current_principal()
    if principal is None:
        return None, None
    return describe_principal(principal), principal_to_json(principal)


def warn_unheard(name: str, jobs: Iterable[Job]) -> None:
    """Say that an event started nothing (once per name: the runtime remembers), so a typo in an
    event name is found in the log, while senders may still emit events before the jobs for
    them exist."""
    known = sorted({j.trigger_spec.name for j in jobs if isinstance(j.trigger_spec, EventTrigger)})
    log.warning(
        "event %r: no job listens to it; it is stored and starts nothing (events jobs listen "
        "to: %s)",
        name,
        ", ".join(known) or "none",
    )
