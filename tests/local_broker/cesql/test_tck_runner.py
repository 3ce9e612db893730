"""The TCK harness itself: loading the YAML format and judging results."""

from __future__ import annotations

import pytest

from local_broker.cesql import ErrorKind
from local_broker.cesql.json_event import attributes_from_json_event
from local_broker.cesql.tck import VALID_EVENT, TckCase, check_case, load_cases

TCK_TEXT = """
name: Sample
tests:
  - name: TRUE
    expression: TRUE
    result: true
  - name: Timestamp stays text
    expression: time
    event:
      specversion: "1.0"
      id: x
      source: /s
      type: t
      time: 2018-04-26T14:48:09+02:00
      data: {"ignored": true}
    result: 2018-04-26T14:48:09+02:00
  - name: Overrides
    expression: myint + 1
    eventOverrides:
      myint: 10
      name: 7
    result: 11
  - expression: ABC(
    error: parse
"""


def test_load_cases_keeps_test_expressions_names_and_timestamps_as_text() -> None:
    literal, timestamp, overrides, parse_error = load_cases(TCK_TEXT, "sample.yaml")
    assert (literal.expression, literal.name, literal.expected_value) == ("TRUE", "TRUE", True)
    assert literal.attributes == VALID_EVENT
    assert timestamp.attributes["time"] == "2018-04-26T14:48:09+02:00"
    assert timestamp.expected_value == "2018-04-26T14:48:09+02:00"
    assert "data" not in timestamp.attributes
    assert overrides.attributes == {**VALID_EVENT, "myint": 10, "name": 7}
    assert (parse_error.name, parse_error.expected_error) == ("ABC(", "parse")
    assert parse_error.case_id == "sample.yaml: ABC("
    assert all(check_case(case) is None for case in (literal, timestamp, overrides, parse_error))


def _case(
    expression: str, value: bool | int | str | None, error: ErrorKind | None = None
) -> TckCase:
    return TckCase("t", "n", expression, VALID_EVENT, value, error)


@pytest.mark.parametrize(
    ("case", "failure"),
    [
        (_case("1", 2), "expected value 2, got 1"),
        (_case("1", True), "expected value True, got 1"),
        (_case("'1'", 1), "expected value 1, got '1'"),
        (_case("1 / 0", 0), "expected error none, got math (division by zero: 1 / 0)"),
        (_case("1", 1, "math"), "expected error math, got none"),
        (_case("(", None, "math"), "expected error math, got parse"),
        (_case("missing", True), "expected error none, got missingAttribute"),
    ],
)
def test_check_case_reports_what_differs(case: TckCase, failure: str) -> None:
    report = check_case(case)
    assert report is not None
    assert failure in report


def test_a_parse_error_counts_as_false() -> None:
    assert check_case(_case("x LIKE 1", False, "parse")) is None
    assert check_case(_case("x LIKE 1", True, "parse")) == "expected value True, got False"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- 1", "expected a mapping with a 'tests' list"),
        ("tests: [{name: x}]", "every test needs a string 'expression'"),
        ("tests: [{expression: x, error: oops}]", "unknown error kind 'oops'"),
        ("tests: [{expression: x, result: [1]}]", "result must be a string, boolean or integer"),
        ("tests: [{expression: x, event: [1]}]", "'event' must be a mapping"),
    ],
)
def test_load_cases_rejects_other_formats(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        load_cases(text, "bad.yaml")


def test_json_event_attributes() -> None:
    event = {"id": "1", "n": 5, "b": False, "gone": None, "data": {}, "data_base64": "AA=="}
    assert attributes_from_json_event(event) == {"id": "1", "n": 5, "b": False}


@pytest.mark.parametrize("value", [1.5, [1], {"a": 1}])
def test_json_event_rejects_values_that_are_no_attribute_type(value: object) -> None:
    with pytest.raises(ValueError, match="attribute 'x' is a JSON"):
        attributes_from_json_event({"x": value})
