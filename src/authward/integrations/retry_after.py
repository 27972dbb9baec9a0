"""``Retry-After`` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, as seconds from now."""

from __future__ import annotations

__all__ = ["retry_after_seconds"]

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """How long to wait: ``"120"`` is 120 seconds; ``"Wed, 21 Oct 2026 07:28:00 GMT"`` (or the
    obsolete RFC 850 and asctime forms) is the time until then, 0 when it has passed. None when
    the header is absent or unreadable: the caller's retry policy decides."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
