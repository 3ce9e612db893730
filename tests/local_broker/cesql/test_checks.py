"""Static checks: calls that can never be served are found before evaluation."""

from __future__ import annotations

import pytest

from local_broker.cesql import compile_expression


@pytest.mark.parametrize(
    ("expression", "problems"),
    [
        ("LENGTH(type) > 1", ()),
        ("UPPER(LOWER(subject)) = 'A' AND ABS(-1) = 1", ()),
        ("FOO(1)", ("no function FOO taking 1 argument(s)",)),
        ("length(type, 2) = 1", ("no function LENGTH taking 2 argument(s)",)),
        ("NOT (subject IN (BAR(), 'x'))", ("no function BAR taking 0 argument(s)",)),
        ("type LIKE 'a%' OR -NOPE(1) = 1", ("no function NOPE taking 1 argument(s)",)),
        ("CONCAT_WS()", ("no function CONCAT_WS taking 0 argument(s)",)),
    ],
)
def test_unresolved_calls(expression: str, problems: tuple[str, ...]) -> None:
    assert compile_expression(expression).unresolved_calls == problems


def test_unresolved_call_still_evaluates_to_missing_function_as_the_spec_says() -> None:
    result = compile_expression("FOO(1)").evaluate({})
    assert result.value is False
    assert result.error is not None
    assert result.error.kind == "missingFunction"
