"""Retry arithmetic for delivery: which failures to retry, how long to wait. No clock: pass `now`.

Which statuses are retried: Knative data-plane spec, "Event Acknowledgement and Delivery Retry"
(404, 409, 429 and 5xx are retried; other 4xx are not), plus 408 Request Timeout and no response
at all, which Knative's dispatcher also retries. 1xx and 3xx are errors that are not retried.

How long to wait before retry k (k = 1 for the first retry; control-plane spec, "DeliverySpec"):
`linear` waits backoffDelay * k, `exponential` waits backoffDelay * 2^(k-1), so the first retry
of either waits exactly backoffDelay.

`Retry-After` (RFC 9110, section 10.2.3: delay-seconds or an HTTP-date) is read on 429 and 503
only, as Knative does. It is opt-in through `retryAfterMax`, as in Knative today (its
"delivery-retryafter" feature): without `retryAfterMax` the header is ignored, `PT0S` ignores it
explicitly, and any other value caps it. The caller waits the larger of the backoff delay and
the Retry-After delay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from local_broker.delivery_spec import DeliverySpec

_RETRIED_CLIENT_ERRORS = frozenset((404, 408, 409, 429))
_RETRY_AFTER_STATUSES = frozenset((429, 503))
# 2.0 ** 1024 overflows a float; a delay that long is "forever" anyway.
_MAX_DOUBLINGS = 1000


def is_retryable(status: int | None) -> bool:
    """Whether a delivery attempt that ended with `status` (None: no response) is retried."""
    if status is None:
        return True
    return status >= 500 or status in _RETRIED_CLIENT_ERRORS


def backoff_delay(spec: DeliverySpec, attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1 is the first retry)."""
    if attempt < 1:
        raise ValueError(f"retries are numbered from 1, not {attempt}")
    if spec.backoff_policy == "linear":
        return spec.backoff_delay * attempt
    return spec.backoff_delay * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS)


def retry_after_seconds(
    header_value: str | None, status: int | None, now: datetime, cap: float | None
) -> float | None:
    """The wait a `Retry-After` header asks for, capped at `cap` (retryAfterMax, seconds).

    None when it does not apply: another status, no or unreadable header, or `cap` is None or 0
    (not opted in, or opted out). An HTTP-date in the past asks for no wait (0.0).
    """
    if status not in _RETRY_AFTER_STATUSES or header_value is None or not cap:
        return None
    value = header_value.strip()
    seconds = float(value) if value.isascii() and value.isdigit() else _seconds_until(value, now)
    return None if seconds is None else min(seconds, cap)


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        moment = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        # HTTP-dates are always GMT (RFC 9110, section 5.6.7); "-0000" parses as naive.
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())
