"""Each event's outgoing request is encoded once and shared by the Triggers that deliver it;
the cache is bounded in entries and in the bytes of its bodies."""

from __future__ import annotations

from local_broker.deliver import OutgoingRequests, outgoing_request
from local_broker.event import CloudEvent


def event(index: int, size: int) -> CloudEvent:
    attributes = {"specversion": "1.0", "id": str(index), "source": "/s", "type": "t"}
    return CloudEvent(attributes, b"x" * size)


def test_an_event_is_encoded_once_per_mode() -> None:
    cache = OutgoingRequests()
    one = event(1, 10)
    first = cache.get(one, structured=False)
    assert cache.get(one, structured=False)[0] is first[0]
    assert cache.get(one, structured=True)[1] == outgoing_request(one, structured=True)[1]


def test_the_oldest_bodies_leave_beyond_the_byte_bound() -> None:
    cache = OutgoingRequests(capacity=100, max_bytes=25_000)
    events = [event(index, 10_000) for index in range(4)]
    encoded = [cache.get(e, structured=False)[0] for e in events]
    # Only the two newest fit: asking again for the oldest encodes it anew (new headers; a
    # binary body is the event's data itself).
    assert cache.get(events[3], structured=False)[0] is encoded[3]
    assert cache.get(events[2], structured=False)[0] is encoded[2]
    assert cache.get(events[0], structured=False)[0] is not encoded[0]


def test_the_oldest_entries_leave_beyond_the_count_bound() -> None:
    cache = OutgoingRequests(capacity=2)
    events = [event(index, 1) for index in range(3)]
    encoded = [cache.get(e, structured=False)[0] for e in events]
    assert cache.get(events[2], structured=False)[0] is encoded[2]
    assert cache.get(events[0], structured=False)[0] is not encoded[0]
