"""Run CESQL Technology Compatibility Kit cases (cloudevents/spec, cesql/cesql_tck).

A TCK file has `name` and `tests`; each test has an `expression`, an expected `result` and/or
`error` kind, and either an `event` (a JSON-format CloudEvent) or `eventOverrides` (attributes
set on a valid event). Where both `result` and `error` are given, evaluation must yield both.
An expression that does not parse counts as the value false with a parse error (section 3.2:
Boolean when no return type can be determined), which is what the TCK's parse cases expect.

This module takes file *contents*; callers read the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast, get_args

import yaml

from local_broker.cesql.errors import CesqlParseError, ErrorKind
from local_broker.cesql.expression import compile_expression
from local_broker.cesql.json_event import attributes_from_json_event
from local_broker.cesql.types import Value
from local_broker.event import AttributeValue

VALID_EVENT: Mapping[str, AttributeValue] = {
    "specversion": "1.0",
    "id": "tck-event",
    "source": "/cesql/tck",
    "type": "io.cloudevents.cesql.tck",
}
ERROR_KINDS: frozenset[str] = frozenset(get_args(ErrorKind))
TEXT_MEMBERS = frozenset({"expression", "name"})


class _TckLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: `time: 2018-04-26T14:48:09+02:00` stays a string."""


_TckLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load_document(text: str) -> Any:
    loader = _TckLoader(text)
    try:
        root = loader.get_single_node()
        document = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    if isinstance(root, yaml.MappingNode) and isinstance(document, dict):
        _keep_source_text(root, document)
    return document


def _keep_source_text(root: yaml.MappingNode, document: dict[Any, Any]) -> None:
    """Set each test's `expression` and `name` to their source text: `expression: TRUE` is the
    expression TRUE, not a YAML boolean, and `expression: 0` is not an integer."""
    tests = _member(root, "tests")
    if not isinstance(tests, yaml.SequenceNode) or not isinstance(document.get("tests"), list):
        return
    for test, node in zip(document["tests"], tests.value, strict=True):
        for name in TEXT_MEMBERS:
            value = _member(node, name)
            if isinstance(test, dict) and isinstance(value, yaml.ScalarNode):
                test[name] = value.value


def _member(node: yaml.Node, name: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for key, value in node.value if key.value == name), None)


@dataclass(frozen=True)
class TckCase:
    suite: str
    name: str
    expression: str
    attributes: Mapping[str, AttributeValue]
    expected_value: Value | None
    expected_error: ErrorKind | None

    @property
    def case_id(self) -> str:
        return f"{self.suite}: {self.name}"


def load_cases(text: str, suite: str) -> list[TckCase]:
    """The cases of one TCK file; raises ValueError when it is not in the TCK format."""
    document = _load_document(text)
    if not isinstance(document, dict) or not isinstance(document.get("tests"), list):
        raise ValueError(f"{suite}: expected a mapping with a 'tests' list")
    return [_case(suite, test) for test in document["tests"]]


def _case(suite: str, test: object) -> TckCase:
    if not isinstance(test, dict) or not isinstance(test.get("expression"), str):
        raise ValueError(f"{suite}: every test needs a string 'expression', got {test!r}")
    name = str(test.get("name", test["expression"]))
    error = test.get("error")
    if error is not None and error not in ERROR_KINDS:
        raise ValueError(f"{suite}: {name}: unknown error kind {error!r}")
    result = test.get("result")
    if result is not None and not isinstance(result, str | bool | int):
        raise ValueError(f"{suite}: {name}: result must be a string, boolean or integer")
    event = test.get("event")
    if event is None:
        event = {**VALID_EVENT, **(test.get("eventOverrides") or {})}
    if not isinstance(event, dict):
        raise ValueError(f"{suite}: {name}: 'event' must be a mapping")
    return TckCase(
        suite=suite,
        name=name,
        expression=test["expression"],
        attributes=attributes_from_json_event(event),
        expected_value=result,
        expected_error=cast(ErrorKind | None, error),
    )


def check_case(case: TckCase) -> str | None:
    """None when the engine does what the case expects; otherwise what went wrong."""
    try:
        expression = compile_expression(case.expression)
    except CesqlParseError as error:
        value: Value = False
        errors = {error.kind: error.message}
    else:
        result = expression.evaluate(case.attributes)
        value = result.value
        errors = {error.kind: error.message for error in result.errors}
    problems = []
    expected_errors = {case.expected_error} if case.expected_error else set()
    if set(errors) != expected_errors:
        got = ", ".join(f"{kind} ({message})" for kind, message in errors.items()) or "none"
        problems.append(f"expected error {case.expected_error or 'none'}, got {got}")
    expected = case.expected_value
    if expected is not None and (type(value) is not type(expected) or value != expected):
        problems.append(f"expected value {expected!r}, got {value!r}")
    return "; ".join(problems) or None
