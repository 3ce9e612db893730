"""Cutting an outbox into batched-mode bodies: pure, a table of cases."""

from __future__ import annotations

import json

import pytest

from shoal.runtime.batching import batch_body, chunks


def sizes(encoded: list[bytes], **limits: int) -> list[int]:
    return [len(chunk) for chunk in chunks(encoded, **limits)]


@pytest.mark.parametrize(
    ("lengths", "max_events", "max_bytes", "expected"),
    [
        ([], 500, 1000, []),
        ([10], 500, 1000, [1]),
        ([10] * 7, 3, 1000, [3, 3, 1]),
        ([10] * 6, 3, 1000, [3, 3]),
        # "[" + 10 + "," + 10 + "]" = 23 bytes: two fit in 23, not in 22
        ([10, 10, 10], 500, 23, [2, 1]),
        ([10, 10, 10], 500, 22, [1, 1, 1]),
        ([10, 10, 10], 500, 34, [3]),
        # an event larger than the limit travels alone; the sink names the problem
        ([5, 50, 5], 500, 20, [1, 1, 1]),
        ([5, 5, 50], 500, 20, [2, 1]),
    ],
)
def test_chunks_respect_both_limits_and_keep_the_order(
    lengths: list[int], max_events: int, max_bytes: int, expected: list[int]
) -> None:
    encoded = [bytes([97 + n % 26]) * length for n, length in enumerate(lengths)]

    assert sizes(encoded, max_events=max_events, max_bytes=max_bytes) == expected
    rejoined = [
        event
        for chunk in chunks(encoded, max_events=max_events, max_bytes=max_bytes)
        for event in chunk
    ]
    assert rejoined == encoded
    for chunk in chunks(encoded, max_events=max_events, max_bytes=max_bytes):
        if len(chunk) > 1:
            assert len(batch_body(chunk)) <= max_bytes


def test_a_batch_body_is_a_json_array_of_the_events() -> None:
    events = [{"id": "a", "n": 1}, {"id": "b", "n": 2}]
    encoded = [json.dumps(event).encode() for event in events]

    assert json.loads(batch_body(encoded)) == events


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        list(chunks([b"{}"], max_events=0))
