"""Knative's `delivery` block (DeliverySpec): how often, how patiently and where else to deliver.

Knative control-plane spec, "DeliverySpec", and Knative's duck/v1 DeliverySpec: `retry` (retries
after the first attempt), `backoffPolicy` (`linear` | `exponential`, default exponential),
`backoffDelay`, `timeout` and `retryAfterMax` (ISO 8601 durations), `deadLetterSink` (a
Destination) and `format` (`json` sends structured mode, `binary` the default binary mode).

Which block applies (control-plane spec, "Broker", `spec.delivery`): a Trigger's own `delivery`
replaces its Broker's wholesale, with no field-by-field merge; a Trigger without one (or with an
empty one, which specifies no option) uses the Broker's. A Broker without `delivery` gets
DEFAULT_DELIVERY, the default that Knative installs for Brokers (config-br-defaults). A block
that leaves `backoffDelay` out waits no time between retries, as Knative does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

from local_broker.destinations import Destination, DestinationError, parse_destination
from local_broker.durations import DurationError, parse_duration

BackoffPolicy: TypeAlias = Literal["linear", "exponential"]
DeliveryFormat: TypeAlias = Literal["binary", "json"]

_Choice = TypeVar("_Choice", bound=str)
_POLICIES: tuple[BackoffPolicy, ...] = ("linear", "exponential")
_FORMATS: tuple[DeliveryFormat, ...] = ("binary", "json")
_KNOWN_FIELDS = frozenset(
    (
        "retry",
        "backoffPolicy",
        "backoffDelay",
        "timeout",
        "retryAfterMax",
        "deadLetterSink",
        "format",
    )
)


class DeliverySpecError(ValueError):
    """A malformed `delivery` block; `field` names the offending field (`retry`, ...)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DeliverySpec:
    """Resolved delivery options. Durations are seconds; `dead_letter_sink` is a URL."""

    retry: int = 0
    backoff_policy: BackoffPolicy = "exponential"
    backoff_delay: float = 0.0
    timeout: float | None = None
    retry_after_max: float | None = None
    dead_letter_sink: str | None = None
    format: DeliveryFormat = "binary"


DEFAULT_DELIVERY = DeliverySpec(retry=10, backoff_policy="exponential", backoff_delay=0.2)


def parse_delivery_spec(value: object) -> tuple[DeliverySpec, Destination | None]:
    """The options of a `delivery` block, and its dead-letter sink still to be resolved.

    The returned spec has `dead_letter_sink=None`; the caller resolves the Destination (it
    knows the namespace and the services) and puts the URL in with `dataclasses.replace`.
    """
    if not isinstance(value, Mapping):
        raise DeliverySpecError("delivery", "must be a mapping")
    unknown = sorted(str(key) for key in value if key not in _KNOWN_FIELDS)
    if unknown:
        known = ", ".join(sorted(_KNOWN_FIELDS))
        raise DeliverySpecError(unknown[0], f"unknown delivery field; known fields: {known}")
    dead_letter_sink = None
    if value.get("deadLetterSink") is not None:
        try:
            dead_letter_sink = parse_destination(value["deadLetterSink"])
        except DestinationError as error:
            raise DeliverySpecError("deadLetterSink", str(error)) from error
    spec = DeliverySpec(
        retry=_retry(value.get("retry")),
        backoff_policy=_choice(value, "backoffPolicy", _POLICIES, "exponential"),
        backoff_delay=_duration(value, "backoffDelay") or 0.0,
        timeout=_positive(_duration(value, "timeout"), "timeout"),
        retry_after_max=_duration(value, "retryAfterMax"),
        format=_choice(value, "format", _FORMATS, "binary"),
    )
    return spec, dead_letter_sink


def _retry(value: object) -> int:
    if value is None:
        return 0
    # bool is an int in Python, but `retry: true` is a typo, not a count.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DeliverySpecError("retry", f"must be a whole number >= 0, not {value!r}")
    return value


def _choice(
    block: Mapping[object, object], field: str, allowed: tuple[_Choice, ...], default: _Choice
) -> _Choice:
    value = block.get(field)
    if value is None:
        return default
    for choice in allowed:
        if value == choice:
            return choice
    raise DeliverySpecError(field, f"must be one of {', '.join(allowed)}, not {value!r}")


def _duration(block: Mapping[object, object], field: str) -> float | None:
    value = block.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DeliverySpecError(field, "must be an ISO 8601 duration string such as PT0.2S")
    try:
        return parse_duration(value)
    except DurationError as error:
        raise DeliverySpecError(field, str(error)) from error


def _positive(seconds: float | None, field: str) -> float | None:
    # Knative's webhook refuses a zero timeout: it would fail every attempt at once.
    if seconds is not None and seconds <= 0:
        raise DeliverySpecError(field, "must be longer than zero")
    return seconds
