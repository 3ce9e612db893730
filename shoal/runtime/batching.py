"""Cutting an outbox into batched-mode requests (CloudEvents HTTP binding 1.0.2, 3.3.3).

A batch is a JSON array of events in the JSON format, sent as one request with Content-Type
`application/cloudevents-batch+json`. The Knative broker ingress takes only single events, so
batching is a setting (`SHOAL_SINK_BATCH`); the local broker takes batches and answers 202 once
every event of one is committed, all or nothing.

A chunk holds at most `max_events` events and its body at most `max_bytes` bytes (the local
broker refuses a larger body with 413; its default limit is 1 MiB). An event that alone exceeds
`max_bytes` travels alone, so the sink names the problem instead of Shoal hiding it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

DEFAULT_MAX_EVENTS = 500
DEFAULT_MAX_BYTES = 1024 * 1024


def chunks(
    encoded: Sequence[bytes],
    *,
    max_events: int = DEFAULT_MAX_EVENTS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[Sequence[bytes]]:
    """Consecutive runs of `encoded` events (JSON format, one `bytes` each), in order, whose batch
    bodies (`batch_body`) stay within both limits."""
    if max_events < 1 or max_bytes < 2:
        raise ValueError(f"batch limits must be positive, not {max_events} events, {max_bytes} B")
    start = 0
    size = 2  # the brackets
    for index, event in enumerate(encoded):
        grown = size + len(event) + (index > start)  # a comma before every event but the first
        if index > start and (index - start >= max_events or grown > max_bytes):
            yield encoded[start:index]
            start, grown = index, 2 + len(event)
        size = grown
    if start < len(encoded):
        yield encoded[start:]


def batch_body(encoded: Sequence[bytes]) -> bytes:
    """The batched-mode body: a JSON array of the events (JSON format 1.0, section 4.1)."""
    return b"[" + b",".join(encoded) + b"]"
