from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from local_broker.backoff import backoff_delay, is_retryable, retry_after_seconds
from local_broker.delivery_spec import DEFAULT_DELIVERY, DeliverySpec

NOW = datetime(1994, 11, 6, 8, 49, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (None, True),
        (100, False),
        (200, False),
        (202, False),
        (204, False),
        (301, False),
        (304, False),
        (400, False),
        (401, False),
        (403, False),
        (404, True),
        (405, False),
        (408, True),
        (409, True),
        (410, False),
        (413, False),
        (422, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
    ],
)
def test_retries_what_knative_retries(status: int | None, retryable: bool) -> None:
    assert is_retryable(status) is retryable


LINEAR = DeliverySpec(retry=5, backoff_policy="linear", backoff_delay=0.5)
EXPONENTIAL = DeliverySpec(retry=5, backoff_policy="exponential", backoff_delay=0.5)


@pytest.mark.parametrize(
    ("spec", "attempt", "delay"),
    [
        (LINEAR, 1, 0.5),
        (LINEAR, 2, 1.0),
        (LINEAR, 3, 1.5),
        (LINEAR, 10, 5.0),
        (EXPONENTIAL, 1, 0.5),
        (EXPONENTIAL, 2, 1.0),
        (EXPONENTIAL, 3, 2.0),
        (EXPONENTIAL, 4, 4.0),
        (EXPONENTIAL, 10, 256.0),
        (DEFAULT_DELIVERY, 1, 0.2),
        (DEFAULT_DELIVERY, 10, 102.4),
        (DeliverySpec(retry=3), 1, 0.0),
        (DeliverySpec(retry=3, backoff_policy="linear"), 3, 0.0),
    ],
)
def test_backoff_delay_before_each_retry(spec: DeliverySpec, attempt: int, delay: float) -> None:
    assert backoff_delay(spec, attempt) == pytest.approx(delay)


def test_backoff_delay_of_an_absurd_retry_count_does_not_overflow() -> None:
    assert backoff_delay(EXPONENTIAL, 5000) > 1e300


@pytest.mark.parametrize("attempt", [0, -1])
def test_retries_are_numbered_from_one(attempt: int) -> None:
    with pytest.raises(ValueError, match="numbered from 1"):
        backoff_delay(LINEAR, attempt)


@pytest.mark.parametrize(
    ("header", "status", "cap", "seconds"),
    [
        # delay-seconds
        ("120", 429, 600.0, 120.0),
        ("120", 503, 600.0, 120.0),
        (" 7 ", 503, 600.0, 7.0),
        ("0", 429, 600.0, 0.0),
        ("120", 429, 30.0, 30.0),
        # HTTP-date in its three forms (RFC 9110, section 5.6.7)
        ("Sun, 06 Nov 1994 08:49:37 GMT", 429, 600.0, 37.0),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 429, 600.0, 37.0),
        ("Sun Nov  6 08:49:37 1994", 503, 600.0, 37.0),
        ("Sun, 06 Nov 1994 09:49:00 GMT", 429, 600.0, 600.0),
        ("Sun, 06 Nov 1994 08:00:00 GMT", 429, 600.0, 0.0),
        # not applicable
        ("120", 500, 600.0, None),
        ("120", 404, 600.0, None),
        ("120", None, 600.0, None),
        (None, 429, 600.0, None),
        ("", 429, 600.0, None),
        ("soon", 429, 600.0, None),
        ("-5", 429, 600.0, None),
        ("1.5", 429, 600.0, None),
        ("١٢", 429, 600.0, None),
        # opt-in: no retryAfterMax ignores the header, PT0S opts out
        ("120", 429, None, None),
        ("120", 429, 0.0, None),
    ],
)
def test_retry_after(
    header: str | None, status: int | None, cap: float | None, seconds: float | None
) -> None:
    assert retry_after_seconds(header, status, NOW, cap) == seconds


def test_retry_after_date_is_measured_from_now_in_any_zone() -> None:
    now = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert retry_after_seconds("Sun, 06 Nov 1994 08:50:00 GMT", 429, now, 600.0) == 60.0
