"""How fast a compiled CESQL filter evaluates, per event.

Run as `.venv/bin/python benchmarks/cesql_eval.py [ITERATIONS]` (default 200000). Compiles the
expression once, then evaluates it ITERATIONS times against a matching and a non-matching event
and prints evaluations per second and microseconds per evaluation (best of 5 rounds, so a busy
machine skews the figure less). The target is at most 5 microseconds per evaluation.
"""

from __future__ import annotations

import argparse
import time

from local_broker.cesql import compile_expression
from local_broker.event import Attributes

EXPRESSION = "type LIKE 'dev.shoal.%' AND EXISTS node AND node = 'n1'"
ROUNDS = 5
BASE_EVENT = {
    "specversion": "1.0",
    "id": "0b6f3a52-2f8e-4d0c-9a53-2a4c53f1d6a1",
    "source": "/shoal/scheduler",
    "subject": "web-1",
    "time": "2026-05-09T07:35:25Z",
    "datacontenttype": "application/json",
}
EVENTS: dict[str, Attributes] = {
    "matching": {**BASE_EVENT, "type": "dev.shoal.replica.scheduled", "node": "n1"},
    "non-matching": {**BASE_EVENT, "type": "dev.shoal.replica.scheduled", "node": "n2"},
}


def seconds_per_evaluation(attributes: Attributes, iterations: int) -> float:
    evaluate = compile_expression(EXPRESSION).evaluate
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(iterations):
            evaluate(attributes)
        best = min(best, time.perf_counter() - started)
    return best / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description="CESQL evaluations per second.")
    parser.add_argument(
        "iterations", nargs="?", type=int, default=200_000, help="per round (default 200000)"
    )
    iterations = parser.parse_args().iterations
    print(f"expression: {EXPRESSION}")
    print(f"iterations: {iterations} per round, best of {ROUNDS} rounds")
    for name, attributes in EVENTS.items():
        outcome = compile_expression(EXPRESSION).evaluate(attributes).value
        seconds = seconds_per_evaluation(attributes, iterations)
        print(
            f"{name:>12} (value {outcome}): {1 / seconds:>12,.0f} evaluations/s, "
            f"{seconds * 1e6:.2f} µs per evaluation"
        )


if __name__ == "__main__":
    main()
