"""Fixtures for the CESQL engine's table tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from local_broker.cesql import EvaluationResult, compile_expression
from local_broker.event import AttributeValue

Evaluate = Callable[..., EvaluationResult]

VALID_EVENT: dict[str, AttributeValue] = {
    "specversion": "1.0",
    "id": "e1",
    "source": "/shoal/tests",
    "type": "dev.shoal.test",
}


@pytest.fixture
def evaluate() -> Evaluate:
    """`evaluate(expression, **attributes)`: compile, then evaluate on a valid event plus those."""

    def run(expression: str, **attributes: AttributeValue) -> EvaluationResult:
        return compile_expression(expression).evaluate({**VALID_EVENT, **attributes})

    return run
