"""Built-in functions (CESQL v1 section 3.5): results, errors and dispatch."""

from __future__ import annotations

import pytest

from local_broker.cesql.types import Value
from tests.local_broker.cesql.conftest import Evaluate


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("LENGTH('héllo')", 5),
        ("LENGTH(-12)", 3),
        ("CONCAT('a', 1, TRUE)", "a1true"),
        ("CONCAT_WS('-', 'a', 'b')", "a-b"),
        ("CONCAT_WS(1, 2, 3)", "213"),
        ("LOWER('ÀB')", "àb"),
        ("UPPER('àb')", "ÀB"),
        ("TRIM(' \t\n\u00a0\u2003x y\u3000 ')", "x y"),
        # TRIM keeps control characters that are not Unicode White_Space.
        ("TRIM(CONCAT(s, 'x'))", "\x1fx"),
        ("LEFT('abc', 0)", ""),
        ("LEFT('abc', '2')", "ab"),
        ("RIGHT('abc', 0)", ""),
        ("RIGHT('abc', 1)", "c"),
        ("RIGHT('abc', 3)", "abc"),
        ("SUBSTRING('abc', 3)", "c"),
        ("SUBSTRING('abc', -3)", "abc"),
        ("SUBSTRING('abc', 0, 5)", ""),
        ("SUBSTRING('abcdef', 2, 0)", ""),
        ("SUBSTRING('abcdef', -2, 10)", "ef"),
        ("ABS('-3')", 3),
        ("ABS(TRUE)", 1),
        ("INT('+12')", 12),
        ("STRING(-0)", "0"),
        ("BOOL('False')", False),
        ("IS_INT('-12')", True),
        ("IS_INT('1.5')", False),
        ("IS_INT(TRUE)", True),
        ("IS_BOOL('TRUE')", True),
        ("IS_BOOL('yes')", False),
        ("IS_BOOL(0)", True),
        ("int(hop) + Int(hop)", 10),
    ],
)
def test_function_results(evaluate: Evaluate, expression: str, value: Value) -> None:
    result = evaluate(expression, s="\x1f", hop="5")
    assert (type(result.value), result.value, result.errors) == (type(value), value, ())


@pytest.mark.parametrize(
    ("expression", "value", "kind"),
    [
        ("LEFT('abc', -1)", "abc", "functionEvaluation"),
        ("RIGHT('abc', -1)", "abc", "functionEvaluation"),
        ("SUBSTRING('abc', 4)", "", "functionEvaluation"),
        ("SUBSTRING('abc', -4)", "", "functionEvaluation"),
        ("SUBSTRING('', 1)", "", "functionEvaluation"),
        ("SUBSTRING('abc', 1, -1)", "", "functionEvaluation"),
        ("SUBSTRING('abc', 0, -1)", "", "functionEvaluation"),
        ("LEFT('abc', 'x')", "", "cast"),
        ("INT('x')", 0, "cast"),
        ("BOOL('x')", False, "cast"),
        ("ABS(-2147483648)", 2147483647, "math"),
        # Section 3.5: no dispatch (unknown name or arity) is false and a missingFunction.
        ("NOPE()", False, "missingFunction"),
        ("LENGTH()", False, "missingFunction"),
        ("LENGTH('a', 'b')", False, "missingFunction"),
        ("SUBSTRING('a')", False, "missingFunction"),
        ("SUBSTRING('a', 1, 1, 1)", False, "missingFunction"),
        ("ABS(1, 2)", False, "missingFunction"),
    ],
)
def test_function_errors(evaluate: Evaluate, expression: str, value: Value, kind: str) -> None:
    result = evaluate(expression)
    assert (type(result.value), result.value) == (type(value), value)
    assert [error.kind for error in result.errors] == [kind]


@pytest.mark.parametrize(
    ("expression", "value"),
    [("LENGTH(missing)", 0), ("CONCAT('a', missing)", ""), ("IS_INT(missing)", False)],
)
def test_missing_attribute_argument_yields_zero_of_return_type(
    evaluate: Evaluate, expression: str, value: Value
) -> None:
    result = evaluate(expression)
    assert (type(result.value), result.value) == (type(value), value)
    assert [error.kind for error in result.errors] == ["missingAttribute"]
