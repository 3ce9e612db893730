"""The ingress's arrival clock writes exactly what `rfc3339` writes for the same moment."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from local_broker.arrival import ArrivalClock
from local_broker.stamping import rfc3339


def expected(now: float) -> str:
    return rfc3339(datetime.fromtimestamp(now, UTC))


@pytest.mark.parametrize(
    "now",
    [
        0.0,
        1795987631.148,
        1795987631.9999996,  # rounds up into the next second
        1795987631.0000004,
        1795987659.9999999,  # and into the next minute
        1700000000.5,
    ],
)
def test_edges_of_a_second(now: float) -> None:
    assert ArrivalClock().stamp(now) == expected(now)


def test_one_clock_over_many_moments_in_order_and_out_of_it() -> None:
    clock, rng = ArrivalClock(), random.Random(7)
    moments = [1795987600 + rng.random() * 120 for _ in range(2000)]
    moments += sorted(moments)
    assert [clock.stamp(now) for now in moments] == [expected(now) for now in moments]
