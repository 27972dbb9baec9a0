"""``Retry-After`` as GitHub and Slack may send it (RFC 9110 §10.2.3): seconds or an HTTP date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from authward.integrations.retry_after import retry_after_seconds

NOW = datetime(2026, 12, 3, 19, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),  # never negative
        ("Thu, 03 Dec 2026 19:02:30 GMT", 150.0),  # IMF-fixdate, the preferred form
        ("Thursday, 03-Dec-26 19:00:45 GMT", 45.0),  # obsolete RFC 850 form
        ("Thu Dec  3 19:01:00 2026", 60.0),  # obsolete asctime form, GMT by definition
        ("Thu, 03 Dec 2026 18:59:00 GMT", 0.0),  # already past: at once, never negative
    ],
)
def test_seconds_or_an_http_date_become_seconds_from_now(value: str, seconds: float) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "Thu, 99 Foo 2026"])
def test_absent_or_unreadable_leaves_the_decision_to_the_retry_policy(value: str | None) -> None:
    assert retry_after_seconds(value, now=NOW) is None


def test_an_http_date_is_measured_from_the_current_time_by_default() -> None:
    in_a_minute = datetime.now(UTC).timestamp() + 60
    http_date = datetime.fromtimestamp(in_a_minute, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    seconds = retry_after_seconds(http_date)
    assert seconds is not None
    assert 0 <= seconds <= 60
