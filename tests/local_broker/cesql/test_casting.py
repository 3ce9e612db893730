"""Casts between Boolean, Integer and String (CESQL v1 section 3.7), direct and implicit."""

from __future__ import annotations

import pytest

from local_broker.cesql.casting import (
    cast_to,
    to_boolean,
    to_boolean_explicitly,
    to_integer,
    to_string,
)
from local_broker.cesql.errors import CesqlError
from local_broker.cesql.types import Value
from tests.local_broker.cesql.conftest import Evaluate


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, "true"), (False, "false"), (0, "0"), (-12, "-12"), (2147483647, "2147483647")],
)
def test_to_string(value: Value, expected: str) -> None:
    assert to_string(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42),
        ("+42", 42),
        ("-42", -42),
        ("007", 7),
        ("2147483647", 2147483647),
        ("-2147483648", -2147483648),
        (True, 1),
        (False, 0),
        (5, 5),
    ],
)
def test_to_integer(value: Value, expected: int) -> None:
    errors: list[CesqlError] = []
    assert to_integer(value, errors) == expected
    assert errors == []


@pytest.mark.parametrize(
    "text",
    ["", " 1", "1 ", "1_000", "1.5", "0x10", "abc", "--1", "٣", "2147483648", "-2147483649"],
)
def test_invalid_integer_text_is_a_cast_error_and_zero(text: str) -> None:
    errors: list[CesqlError] = []
    assert to_integer(text, errors) == 0
    assert [error.kind for error in errors] == ["cast"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("tRuE", True), ("false", False), ("FALSE", False)],
)
def test_to_boolean_from_text(value: str, expected: bool) -> None:
    errors: list[CesqlError] = []
    assert to_boolean(value, errors) is expected
    assert errors == []


@pytest.mark.parametrize("value", ["yes", "1", "", " true", 1, 0])
def test_implicit_boolean_cast_failures_are_false(value: Value) -> None:
    errors: list[CesqlError] = []
    assert to_boolean(value, errors) is False
    assert [error.kind for error in errors] == ["cast"]


@pytest.mark.parametrize(
    ("value", "expected"), [(0, False), (1, True), (-50, True), ("true", True)]
)
def test_explicit_boolean_cast_accepts_integers(value: Value, expected: bool) -> None:
    errors: list[CesqlError] = []
    assert to_boolean_explicitly(value, errors) is expected
    assert errors == []


def test_cast_to_none_keeps_the_value() -> None:
    assert cast_to(None, "x", []) == "x"


@pytest.mark.parametrize(
    ("expression", "value", "error"),
    [
        # `=` is ambiguous: the right operand's type decides, the left one is cast (3.7).
        ("'TRUE' = true", True, None),
        ("true = 'TRUE'", False, None),
        ("TRUE = 'true' AND FALSE = 'false'", True, None),
        ("'10' = 10", True, None),
        ("10 = '10'", True, None),
        ("'010' = 10", True, None),
        ("10 = '010'", False, None),
        ("'x' = 10", False, "cast"),
        ("TRUE = 1", True, None),
        ("1 = TRUE", False, "cast"),
        # Ordering and arithmetic cast both operands to Integer.
        ("'5' < '10'", True, None),
        ("TRUE + TRUE", 2, None),
        ("'a' + 1", 1, "cast"),
        # Logic casts to Boolean; Integer -> Boolean is explicit only (tck "Invalid int cast").
        ("'true' AND 'TRUE'", True, None),
        ("NOT 'false'", True, None),
        ("NOT 0", True, "cast"),
        ("1 OR FALSE", False, "cast"),
        ("BOOL(0) OR BOOL(2)", True, None),
        # LIKE casts its operand to String.
        ("-5 LIKE '-_'", True, None),
        ("FALSE LIKE 'f%'", True, None),
        # IN casts the elements to the left operand's type.
        ("'5' IN (5)", True, None),
        ("5 IN ('05')", True, None),
        ("TRUE IN ('TRUE')", True, None),
        ("5 IN ('x', 5)", True, "cast"),
        ("TRUE IN (1)", False, "cast"),
    ],
)
def test_implicit_casts(evaluate: Evaluate, expression: str, value: Value, error: str) -> None:
    result = evaluate(expression)
    assert (type(result.value), result.value) == (type(value), value)
    assert (result.error.kind if result.error else None) == error
