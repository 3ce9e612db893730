"""What the broker's ingress adds to an event: arrival time and the loop-guard TTL.

Knative data plane, "Broker ingress": `knativearrivaltime` is set (overwriting) to when the
broker received the event; `knativebrokerttl` bounds how often replies may loop through the
broker. The event's data is never touched.
"""

from __future__ import annotations

from datetime import UTC, datetime

from local_broker.event import CloudEvent

DEFAULT_TTL = 255
TTL_ATTRIBUTE = "knativebrokerttl"


class TTLExhaustedError(Exception):
    """The event has looped through the broker too often; it is refused."""

    def __init__(self, event_id: str, ttl: int) -> None:
        super().__init__(
            f"event {event_id!r} has knativebrokerttl {ttl}: it has passed through the broker "
            "too many times (a reply loop?); it is not accepted"
        )
        self.ttl = ttl


def parse_ttl(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def next_ttl(current: object) -> int:
    """Absent or not an integer: a fresh TTL of 255. Otherwise one less than it was."""
    ttl = parse_ttl(current)
    return DEFAULT_TTL if ttl is None else ttl - 1


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def stamp_for_ingress(event: CloudEvent, arrival: datetime) -> CloudEvent:
    ttl = next_ttl(event.attributes.get(TTL_ATTRIBUTE))
    if ttl <= 0:
        raise TTLExhaustedError(event.id, ttl)
    return event.with_attributes(knativearrivaltime=rfc3339(arrival), knativebrokerttl=ttl)


def reply_with_ttl(delivered: CloudEvent, reply: CloudEvent) -> CloudEvent:
    """A reply inherits the TTL of the event it answers, so a reply loop runs out."""
    ttl = delivered.attributes.get(TTL_ATTRIBUTE)
    return reply.with_attributes(knativebrokerttl=ttl)
