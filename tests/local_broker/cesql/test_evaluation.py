"""Evaluation: attribute access, the error model and short-circuiting (CESQL v1, 3.2 to 3.4)."""

from __future__ import annotations

import inspect
import sys

import pytest

from local_broker.cesql import EvaluationResult, compile_expression
from local_broker.cesql.types import Value
from tests.local_broker.cesql.conftest import Evaluate


def test_attributes_keep_their_type(evaluate: Evaluate) -> None:
    assert evaluate("flag", flag=True).value is True
    assert evaluate("count", count=10).value == 10
    assert evaluate("name", name="n1").value == "n1"


def test_identifiers_are_case_insensitive(evaluate: Evaluate) -> None:
    assert evaluate("TYPE = 'dev.shoal.test' AND EXISTS ID").value is True


def test_exists(evaluate: Evaluate) -> None:
    assert evaluate("EXISTS node", node="n1") == EvaluationResult(True)
    assert evaluate("EXISTS node") == EvaluationResult(False)
    assert evaluate("EXISTS node", node="") == EvaluationResult(True)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        # Section 3.2: the subexpression referencing a missing attribute has the zero value of
        # its return type, and so has everything enclosing it (section 3.3).
        ("missing", False),
        ("(missing)", False),
        ("missing = 'x'", False),
        ("missing != 'x'", False),
        ("NOT missing", False),
        ("NOT (missing = 'x')", False),
        ("missing * 5", 0),
        ("1 / missing", 0),
        ("-missing", 0),
        ("missing LIKE '%'", False),
        ("missing IN ('a')", False),
        ("'a' IN ('a', missing)", False),
        ("TRUE AND (missing = '')", False),
        ("missing OR TRUE", False),
        ("UPPER(missing)", ""),
    ],
)
def test_missing_attributes(evaluate: Evaluate, expression: str, value: Value) -> None:
    result = evaluate(expression)
    assert (type(result.value), result.value) == (type(value), value)
    assert [error.kind for error in result.errors] == ["missingAttribute"]
    assert result.error is not None
    assert "'missing'" in result.error.message


@pytest.mark.parametrize(
    ("expression", "value", "kind"),
    [
        # An error inside an operand: the expression yields its zero value ...
        ("1 / 0 = 0", False, "math"),
        ("NOT (1 / 0 = 0)", False, "math"),
        ("LENGTH(CONCAT('a', 1 / 0))", 0, "math"),
        ("LEFT('abc', -1) = 'abc'", False, "functionEvaluation"),
        ("(NOT 10) = TRUE", False, "cast"),
        # ... while the node that met the error defines the value when it is the root.
        ("LEFT('abc', -1)", "abc", "functionEvaluation"),
        ("NOT 10", True, "cast"),
        ("10 / 0", 0, "math"),
    ],
)
def test_errors_propagate(evaluate: Evaluate, expression: str, value: Value, kind: str) -> None:
    result = evaluate(expression)
    assert (type(result.value), result.value) == (type(value), value)
    assert [error.kind for error in result.errors] == [kind]


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("FALSE AND missing", False),
        ("FALSE AND 1 / 0 = 0", False),
        ("TRUE OR missing", True),
        ("TRUE OR NOPE()", True),
        ("'false' AND missing", False),
        ("'true' OR missing", True),
    ],
)
def test_and_or_short_circuit(evaluate: Evaluate, expression: str, value: bool) -> None:
    assert evaluate(expression) == EvaluationResult(value)


def test_xor_evaluates_both_operands(evaluate: Evaluate) -> None:
    assert evaluate("TRUE XOR 'false'") == EvaluationResult(True)
    assert evaluate("TRUE XOR missing").error is not None


def test_several_cast_errors_of_one_operator_are_all_reported(evaluate: Evaluate) -> None:
    result = evaluate("'a' + 'b'")
    assert result.value == 0
    assert [error.kind for error in result.errors] == ["cast", "cast"]
    assert result.error is result.errors[0]


@pytest.mark.parametrize(
    ("expression", "attributes", "value"),
    [
        ("type IN ('a', 'b')", {"type": "b"}, True),
        ("type NOT IN ('a', 'b')", {"type": "b"}, False),
        ("n IN (1, '2', TRUE)", {"n": "1"}, True),
        ("n IN (1, '2')", {"n": 2}, True),
        ("n IN (1, 2)", {"n": True}, False),
        ("flag IN ('TRUE')", {"flag": True}, True),
        ("type IN (source, 'x')", {"type": "s", "source": "s"}, True),
        ("type IN (source, 'x')", {"type": "y", "source": "s"}, False),
    ],
)
def test_in(
    evaluate: Evaluate, expression: str, attributes: dict[str, str | int | bool], value: bool
) -> None:
    result = evaluate(expression, **attributes)
    assert result.value is value


def test_in_with_literal_elements_reports_cast_errors_for_the_types_that_need_them(
    evaluate: Evaluate,
) -> None:
    assert evaluate("n IN ('x', 1)", n="1") == EvaluationResult(True)
    cast = evaluate("n IN ('x', 1)", n=1)
    assert cast.value is True
    assert [error.kind for error in cast.errors] == ["cast"]


def test_passes_is_a_clean_true() -> None:
    assert EvaluationResult(True).passes
    assert not EvaluationResult(False).passes
    assert not EvaluationResult("true").passes
    assert not EvaluationResult(1).passes


def test_passes_is_false_with_any_error(evaluate: Evaluate) -> None:
    result = evaluate("NOT 10")
    assert result.value is True
    assert not result.passes


def test_an_expression_is_reusable_across_events() -> None:
    expression = compile_expression("type LIKE 'dev.shoal.%' AND EXISTS node AND node = 'n1'")
    base = {"specversion": "1.0", "id": "1", "source": "/s"}
    assert expression.evaluate({**base, "type": "dev.shoal.x", "node": "n1"}).passes
    assert not expression.evaluate({**base, "type": "dev.shoal.x", "node": "n2"}).passes
    assert not expression.evaluate({**base, "type": "dev.other", "node": "n1"}).passes
    assert expression.evaluate({**base, "type": "dev.shoal.x"}) == EvaluationResult(False)
    assert expression.source == "type LIKE 'dev.shoal.%' AND EXISTS node AND node = 'n1'"
    assert repr(expression) == f"Expression({expression.source!r})"


def test_running_out_of_stack_while_evaluating_is_a_generic_error() -> None:
    expression = compile_expression(" OR ".join(f"type = 't{index}'" for index in range(100)))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 40)
    try:
        result = expression.evaluate({"type": "t99"})
    finally:
        sys.setrecursionlimit(limit)
    assert result.value is False
    assert [error.kind for error in result.errors] == ["generic"]
