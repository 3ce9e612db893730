"""What the broker's ingress adds to an event: arrival time and the loop-guard TTL.

Knative data plane, "Broker ingress": `knativearrivaltime` is set (overwriting) to when the
broker received the event; `knativebrokerttl` bounds how often replies may loop through the
broker. The event's data is never touched.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

from local_broker.attributes import INTEGER_MAX, INTEGER_MIN
from local_broker.event import CloudEvent

DEFAULT_TTL = 255
TTL_ATTRIBUTE = "knativebrokerttl"
_INTEGER_TEXT: Final = re.compile(r"[+-]?[0-9]+")


class TTLExhaustedError(Exception):
    """The event has looped through the broker too often; it is refused."""

    def __init__(self, event_id: str, ttl: int) -> None:
        super().__init__(
            f"event {event_id!r} has knativebrokerttl {ttl}: it has passed through the broker "
            "too many times (a reply loop?); it is not accepted"
        )
        self.event_id = event_id
        self.ttl = ttl

    def __reduce__(self) -> tuple[type[TTLExhaustedError], tuple[str, int]]:
        return (TTLExhaustedError, (self.event_id, self.ttl))  # a delivery process hears of it


def parse_ttl(value: object) -> int | None:
    """The TTL as a CloudEvents Integer (core spec, "Type System": 32-bit signed, written as
    ASCII digits with an optional sign), else None: a value Knative would not read as an
    integer counts as absent, so the event gets a fresh TTL instead of one this broker's own
    ingress would refuse further on."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _INTEGER_TEXT.fullmatch(text):  # int() would also take "1_000" and "٣"
            return None
        value = int(text)
    if isinstance(value, int) and INTEGER_MIN <= value <= INTEGER_MAX:
        return value
    return None


def next_ttl(current: object) -> int:
    """Absent or not an integer: a fresh TTL of 255. Otherwise one less than it was."""
    ttl = parse_ttl(current)
    return DEFAULT_TTL if ttl is None else ttl - 1


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def stamp_for_ingress(event: CloudEvent, arrival: datetime | str) -> CloudEvent:
    """The event with `knativearrivaltime` (a datetime, or its `rfc3339` text) and the next TTL."""
    attributes = dict(event.attributes)
    ttl = next_ttl(attributes.get(TTL_ATTRIBUTE))
    if ttl <= 0:
        raise TTLExhaustedError(event.id, ttl)
    attributes["knativearrivaltime"] = arrival if isinstance(arrival, str) else rfc3339(arrival)
    attributes[TTL_ATTRIBUTE] = ttl
    return CloudEvent(attributes, event.data)


def reply_with_ttl(delivered: CloudEvent, reply: CloudEvent) -> CloudEvent:
    """A reply inherits the TTL of the event it answers, so a reply loop runs out."""
    ttl = delivered.attributes.get(TTL_ATTRIBUTE)
    return reply.with_attributes(knativebrokerttl=ttl)
