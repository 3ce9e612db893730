"""ISO 8601 durations, as Knative's DeliverySpec writes them (`backoffDelay`, `timeout`, ...).

Knative control-plane spec, "DeliverySpec": `backoffDelay` is "in ISO 8601 format"; `timeout` and
`retryAfterMax` (Knative's experimental fields) are too. The accepted form is the ISO 8601
duration `P[nY][nM][nW][nD][T[nH][nM][nS]]`: at least one component, components in that order,
designators upper case, and only the last component may carry a decimal fraction (`.` or `,`).
Examples: `PT0.2S`, `PT1M`, `P1DT2H`, `PT1.5H`.

Calendar components have no fixed length; like Knative's period parser we count a year as the
Gregorian average of 365.2425 days and a month as a twelfth of that. Negative durations are
refused: no DeliverySpec field means anything by them.
"""

from __future__ import annotations

import re

DAY_SECONDS = 86_400.0
YEAR_SECONDS = 365.2425 * DAY_SECONDS
MONTH_SECONDS = YEAR_SECONDS / 12

_NUMBER = r"[0-9]+(?:[.,][0-9]+)?"
_DURATION = re.compile(
    rf"P(?:(?P<years>{_NUMBER})Y)?(?:(?P<months>{_NUMBER})M)?(?:(?P<weeks>{_NUMBER})W)?"
    rf"(?:(?P<days>{_NUMBER})D)?"
    rf"(?P<time>T(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?"
)
_SECONDS_PER_COMPONENT = (
    ("years", YEAR_SECONDS),
    ("months", MONTH_SECONDS),
    ("weeks", 7 * DAY_SECONDS),
    ("days", DAY_SECONDS),
    ("hours", 3600.0),
    ("minutes", 60.0),
    ("seconds", 1.0),
)
_BARE_SECONDS = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(s|sec|secs|seconds)?")
_MILLISECONDS = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*ms")
_EXAMPLES = "for example PT0.2S, PT1M or P1DT2H"


class DurationError(ValueError):
    """A text that is not an ISO 8601 duration; the message says what to write instead."""


def parse_duration(text: str) -> float:
    """The number of seconds in the ISO 8601 duration `text` (`PT0.2S` -> 0.2)."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise DurationError(_explain(text))
    if match["time"] == "T":
        raise DurationError(f"{text!r} has a T but no hours, minutes or seconds after it")
    present = [name for name, _ in _SECONDS_PER_COMPONENT if match[name] is not None]
    if not present:
        raise DurationError(f"{text!r} has no components; write a duration {_EXAMPLES}")
    # ISO 8601: only the lowest-order component given may have a fraction.
    for name in present[:-1]:
        if not match[name].isdigit():
            raise DurationError(
                f"{text!r}: only the last component may have a fraction ({_EXAMPLES})"
            )
    return sum(
        float(match[name].replace(",", ".")) * seconds
        for name, seconds in _SECONDS_PER_COMPONENT
        if match[name] is not None
    )


def _explain(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("-"):
        return f"{text!r} is negative; durations here must be zero or more"
    if stripped != text:
        return f"{text!r} has surrounding spaces; write just the duration, e.g. {stripped!r}"
    if _DURATION.fullmatch(text.upper()):
        return f"{text!r}: ISO 8601 designators are upper case: {text.upper()!r}"
    with_time = "PT" + text[1:]
    if text.startswith("P") and _DURATION.fullmatch(with_time):
        return f"{text!r}: hours, minutes and seconds go after a T: {with_time!r}"
    bare = _BARE_SECONDS.fullmatch(text.lower())
    if bare:
        return f"{text!r} is not an ISO 8601 duration; for {bare[1]} seconds write 'PT{bare[1]}S'"
    milliseconds = _MILLISECONDS.fullmatch(text.lower())
    if milliseconds:
        seconds = f"{float(milliseconds[1]) / 1000:g}"
        return f"{text!r} is not an ISO 8601 duration; for {seconds} seconds write 'PT{seconds}S'"
    return f"{text!r} is not an ISO 8601 duration; write one {_EXAMPLES}"
