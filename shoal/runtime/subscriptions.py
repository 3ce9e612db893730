"""What a function subscribes to: Trigger filters, periodic ticks and delivery options.

The filters are written in the dialects of Knative Triggers and become the Trigger manifests
verbatim (`shoal manifests`), so a subscription means on the local broker what it means on
Knative:

    Subscription(attributes={"type": events.REPLICA_EXITED})         # spec.filter.attributes
    Subscription(filters=[prefix(type="dev.shoal.replica."),          # spec.filters
                          not_(exact(subject="canary"))])

The dialects (CloudEvents Subscriptions API, "Filters"): `exact`, `prefix` and `suffix` compare
attribute values; `all_of`, `any_of` and `not_` combine filters; `cesql` is a CloudEvents SQL
expression. The local broker compiles every filter when it loads the manifests, so a bad one
fails `shoal up` and the contract test, naming the Trigger.

A `Tick` asks for `dev.knative.sources.ping` events on a cron schedule: it becomes a PingSource
sending to the Broker, and a Trigger for this function on that PingSource's events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Filter = Mapping[str, object]
"""One Subscriptions API filter expression, exactly as it appears in `spec.filters`."""


def exact(**attributes: str) -> Filter:
    """Every named attribute equals its value."""
    return {"exact": dict(attributes)}


def prefix(**attributes: str) -> Filter:
    """Every named attribute starts with its value."""
    return {"prefix": dict(attributes)}


def suffix(**attributes: str) -> Filter:
    """Every named attribute ends with its value."""
    return {"suffix": dict(attributes)}


def all_of(*filters: Filter) -> Filter:
    return {"all": list(filters)}


def any_of(*filters: Filter) -> Filter:
    return {"any": list(filters)}


def not_(inner: Filter) -> Filter:
    return {"not": inner}


def cesql(expression: str) -> Filter:
    """A CloudEvents SQL expression, e.g. `cesql("subject LIKE 'web-%'")`."""
    return {"cesql": expression}


@dataclass(frozen=True, slots=True)
class Delivery:
    """Knative's DeliverySpec for a Trigger: retries after the first attempt, backoff, timeout.

    Durations are ISO 8601 (`PT0.2S`). `dead_letter_sink` is the name of a Shoal function (its
    Service receives the dead letters) or an absolute URL; None leaves failed events to the
    broker (Knative drops them; the local broker keeps them for `shoal events --dead`).
    """

    retry: int = 5
    backoff_policy: Literal["exponential", "linear"] = "exponential"
    backoff_delay: str = "PT0.2S"
    timeout: str | None = None
    dead_letter_sink: str | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """One Trigger. `name` tells the Triggers of one function apart (needed when it has several).

    Use `attributes` (exact matches, Knative's classic filter) or `filters` (any dialect), not
    both; with neither, every event matches.
    """

    attributes: Mapping[str, str] = field(default_factory=dict)
    filters: Sequence[Filter] = ()
    name: str | None = None
    delivery: Delivery = Delivery()


@dataclass(frozen=True, slots=True)
class Tick:
    """Periodic `dev.knative.sources.ping` events from the PingSource `name`, on a cron
    `schedule` (UTC). `local_period_seconds` makes the local broker tick that often instead
    (Knative ignores it and keeps the cron schedule)."""

    name: str
    schedule: str
    local_period_seconds: float | None = None
    delivery: Delivery = Delivery()


Subscribes = Subscription | Tick
