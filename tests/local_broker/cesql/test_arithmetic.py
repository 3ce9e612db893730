"""32-bit integer arithmetic: truncation, division by zero and overflow (sections 3.1, 3.4.2)."""

from __future__ import annotations

import pytest

from tests.local_broker.cesql.conftest import Evaluate

MAX, MIN = 2147483647, -2147483648


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("7 / 2", 3),
        ("-7 / 2", -3),
        ("7 / -2", -3),
        ("-7 / -2", 3),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("-7 % -3", -1),
        ("-2147483648 % -1", 0),
        ("2147483646 + 1", MAX),
        ("-2147483647 - 1", MIN),
        ("-2147483648 / 1", MIN),
        ("46340 * 46340", 2147395600),
        ("-(-2147483647)", MAX),
        ("ABS(-2147483647)", MAX),
    ],
)
def test_results_within_32_bits(evaluate: Evaluate, expression: str, value: int) -> None:
    result = evaluate(expression)
    assert (result.value, result.errors) == (value, ())


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        # Overflow yields the nearest bound and a math error, as ABS does (section 3.5.2).
        ("2147483647 + 1", MAX),
        ("-2147483648 - 1", MIN),
        ("2147483647 * 2", MAX),
        ("-2147483648 * 2", MIN),
        ("-2147483648 * -1", MAX),
        ("-2147483648 / -1", MAX),
        ("-(-2147483648)", MAX),
        ("-INT('-2147483648')", MAX),
        ("ABS(-2147483648)", MAX),
        # Division by zero yields 0 and a math error (section 3.4.2).
        ("5 / 0", 0),
        ("5 % 0", 0),
        ("-5 / 0", 0),
    ],
)
def test_math_errors(evaluate: Evaluate, expression: str, value: int) -> None:
    result = evaluate(expression)
    assert result.value == value
    assert result.error is not None
    assert result.error.kind == "math"


def test_overflow_inside_an_expression_yields_its_zero_value(evaluate: Evaluate) -> None:
    result = evaluate("2147483647 + 1 > 0")
    assert result.value is False
    assert [error.kind for error in result.errors] == ["math"]


def test_integer_attributes_beyond_32_bits_are_strings(evaluate: Evaluate) -> None:
    assert evaluate("big", big=2**40).value == str(2**40)
    cast_error = evaluate("big + 1", big=2**40).error
    assert cast_error is not None
    assert cast_error.kind == "cast"


def test_casting_an_out_of_range_string_is_a_cast_error(evaluate: Evaluate) -> None:
    result = evaluate("INT(n)", n="2147483648")
    assert result.value == 0
    assert result.error is not None
    assert result.error.kind == "cast"
