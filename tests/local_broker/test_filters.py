from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from local_broker.cesql import CesqlError
from local_broker.event import AttributeValue, CloudEvent
from local_broker.filter_matching import MATCH_ALL
from local_broker.filters import FilterError, compile_filter

BASE: dict[str, AttributeValue] = {
    "specversion": "1.0",
    "id": "event-1",
    "source": "/shoal/scheduler",
    "type": "dev.shoal.replica.scheduled",
    "subject": "web-1",
}


def event(**changes: AttributeValue | None) -> CloudEvent:
    return CloudEvent(BASE).with_attributes(**changes)


# (attributes, filters, event changes, expected)
Case = tuple[
    Mapping[str, str] | None, Sequence[object] | None, dict[str, AttributeValue | None], bool
]

ATTRIBUTE_CASES: dict[str, Case] = {
    "no filter": (None, None, {}, True),
    "empty attributes": ({}, None, {}, True),
    "type equal": ({"type": "dev.shoal.replica.scheduled"}, None, {}, True),
    "type differs": ({"type": "dev.shoal.replica.requested"}, None, {}, False),
    "case-sensitive": ({"type": "DEV.shoal.replica.scheduled"}, None, {}, False),
    "no prefix semantics": ({"type": "dev.shoal"}, None, {}, False),
    "all keys must match": (
        {"type": "dev.shoal.replica.scheduled", "source": "/x"},
        None,
        {},
        False,
    ),
    "two keys match": (
        {"type": "dev.shoal.replica.scheduled", "source": "/shoal/scheduler"},
        None,
        {},
        True,
    ),
    "extension equal": ({"node": "n1"}, None, {"node": "n1"}, True),
    "extension differs": ({"node": "n1"}, None, {"node": "n2"}, False),
    "extension absent": ({"node": "n1"}, None, {}, False),
    "empty value: present": ({"node": ""}, None, {"node": "n1"}, True),
    "empty value: absent": ({"node": ""}, None, {}, False),
    "empty value: present but empty": ({"node": ""}, None, {"node": ""}, False),
    "empty value on a core attribute": ({"subject": ""}, None, {}, True),
    "empty value on a missing subject": ({"subject": ""}, None, {"subject": None}, False),
    "integer extension, canonical string": ({"replicas": "3"}, None, {"replicas": 3}, True),
    "integer extension differs": ({"replicas": "03"}, None, {"replicas": 3}, False),
    "boolean extension": ({"ready": "true"}, None, {"ready": True}, True),
    "boolean extension, other case": ({"ready": "True"}, None, {"ready": True}, False),
    "false boolean is non-empty": ({"ready": ""}, None, {"ready": False}, True),
    "zero integer is non-empty": ({"count": ""}, None, {"count": 0}, True),
}

DIALECT_CASES: dict[str, Case] = {
    "empty filters list falls back to attributes (match)": (
        {"type": "dev.shoal.replica.scheduled"},
        [],
        {},
        True,
    ),
    "empty filters list falls back to attributes (no match)": ({"type": "other"}, [], {}, False),
    "filters override attributes": (
        {"type": "other"},
        [{"exact": {"type": "dev.shoal.replica.scheduled"}}],
        {},
        True,
    ),
    "filters override attributes (no match)": (
        {"type": "dev.shoal.replica.scheduled"},
        [{"exact": {"type": "other"}}],
        {},
        False,
    ),
    "exact": (None, [{"exact": {"type": "dev.shoal.replica.scheduled"}}], {}, True),
    "exact differs": (None, [{"exact": {"type": "dev.shoal.replica"}}], {}, False),
    "exact, two keys": (
        None,
        [{"exact": {"type": "dev.shoal.replica.scheduled", "subject": "web-1"}}],
        {},
        True,
    ),
    "exact, two keys, one differs": (
        None,
        [{"exact": {"type": "dev.shoal.replica.scheduled", "subject": "web-2"}}],
        {},
        False,
    ),
    "exact on missing extension": (None, [{"exact": {"node": "n1"}}], {}, False),
    "exact on integer extension": (None, [{"exact": {"replicas": "3"}}], {"replicas": 3}, True),
    "prefix": (None, [{"prefix": {"type": "dev.shoal."}}], {}, True),
    "prefix, whole value": (None, [{"prefix": {"type": "dev.shoal.replica.scheduled"}}], {}, True),
    "prefix differs": (None, [{"prefix": {"type": "dev.knative."}}], {}, False),
    "prefix is case-sensitive": (None, [{"prefix": {"type": "Dev."}}], {}, False),
    "prefix longer than value": (None, [{"prefix": {"subject": "web-1-extra"}}], {}, False),
    "prefix on missing attribute": (None, [{"prefix": {"node": "n"}}], {}, False),
    "prefix on boolean": (None, [{"prefix": {"ready": "tr"}}], {"ready": True}, True),
    "prefix, two keys": (
        None,
        [{"prefix": {"type": "dev.shoal.", "source": "/shoal/"}}],
        {},
        True,
    ),
    "prefix, two keys, one fails": (
        None,
        [{"prefix": {"type": "dev.shoal.", "source": "/agents/"}}],
        {},
        False,
    ),
    "suffix": (None, [{"suffix": {"type": ".scheduled"}}], {}, True),
    "suffix differs": (None, [{"suffix": {"type": ".requested"}}], {}, False),
    "suffix on missing attribute": (None, [{"suffix": {"node": "1"}}], {}, False),
    "suffix on integer": (None, [{"suffix": {"replicas": "2"}}], {"replicas": 12}, True),
    "list: all must hold": (
        None,
        [{"prefix": {"type": "dev.shoal."}}, {"suffix": {"type": ".scheduled"}}],
        {},
        True,
    ),
    "list: one fails": (
        None,
        [{"prefix": {"type": "dev.shoal."}}, {"suffix": {"type": ".requested"}}],
        {},
        False,
    ),
    "all": (
        None,
        [
            {
                "all": [
                    {"exact": {"type": "dev.shoal.replica.scheduled"}},
                    {"exact": {"subject": "web-1"}},
                ]
            }
        ],
        {},
        True,
    ),
    "all, one fails": (
        None,
        [
            {
                "all": [
                    {"exact": {"type": "dev.shoal.replica.scheduled"}},
                    {"exact": {"subject": "x"}},
                ]
            }
        ],
        {},
        False,
    ),
    "empty all matches everything": (None, [{"all": []}], {}, True),
    "empty all next to a failing filter": (
        None,
        [{"all": []}, {"exact": {"type": "x"}}],
        {},
        False,
    ),
    "any, first holds": (
        None,
        [{"any": [{"exact": {"subject": "web-1"}}, {"exact": {"subject": "x"}}]}],
        {},
        True,
    ),
    "any, second holds": (
        None,
        [{"any": [{"exact": {"subject": "x"}}, {"exact": {"subject": "web-1"}}]}],
        {},
        True,
    ),
    "any, none holds": (
        None,
        [{"any": [{"exact": {"subject": "x"}}, {"exact": {"subject": "y"}}]}],
        {},
        False,
    ),
    "any of one": (None, [{"any": [{"exact": {"subject": "web-1"}}]}], {}, True),
    "not": (None, [{"not": {"exact": {"type": "dev.shoal.replica.requested"}}}], {}, True),
    "not, negated": (
        None,
        [{"not": {"exact": {"type": "dev.shoal.replica.scheduled"}}}],
        {},
        False,
    ),
    "not on missing attribute": (None, [{"not": {"exact": {"node": "n1"}}}], {}, True),
    "not not": (None, [{"not": {"not": {"prefix": {"type": "dev."}}}}], {}, True),
    "not of empty all": (None, [{"not": {"all": []}}], {}, False),
    "nested": (
        None,
        [
            {
                "any": [
                    {
                        "all": [
                            {"prefix": {"type": "dev.shoal."}},
                            {"not": {"exact": {"subject": "web-1"}}},
                        ]
                    },
                    {"all": [{"suffix": {"type": ".scheduled"}}, {"exact": {"node": "n1"}}]},
                ]
            }
        ],
        {"node": "n1"},
        True,
    ),
    "nested, no branch holds": (
        None,
        [
            {
                "any": [
                    {
                        "all": [
                            {"prefix": {"type": "dev.shoal."}},
                            {"not": {"exact": {"subject": "web-1"}}},
                        ]
                    },
                    {"all": [{"suffix": {"type": ".scheduled"}}, {"exact": {"node": "n1"}}]},
                ]
            }
        ],
        {"node": "n2"},
        False,
    ),
    "cesql true": (None, [{"cesql": "type LIKE 'dev.shoal.%' AND subject = 'web-1'"}], {}, True),
    "cesql false": (None, [{"cesql": "subject = 'web-2'"}], {}, False),
    "cesql on extension": (None, [{"cesql": "node = 'n1'"}], {"node": "n1"}, True),
    "cesql EXISTS": (None, [{"cesql": "EXISTS node"}], {}, False),
    "cesql missing attribute is an error, no match": (None, [{"cesql": "node = 'n1'"}], {}, False),
    "cesql with other dialects": (
        None,
        [{"prefix": {"type": "dev.shoal."}}, {"cesql": "subject IN ('web-1', 'web-2')"}],
        {},
        True,
    ),
    "cesql integer extension": (None, [{"cesql": "replicas > 2"}], {"replicas": 3}, True),
    "cesql non-boolean value": (None, [{"cesql": "subject"}], {}, False),
    "not of a failing cesql matches": (None, [{"not": {"cesql": "node = 'n1'"}}], {}, True),
}


@pytest.mark.parametrize(
    ("attributes", "filters", "changes", "expected"),
    [*ATTRIBUTE_CASES.values(), *DIALECT_CASES.values()],
    ids=[*ATTRIBUTE_CASES, *DIALECT_CASES],
)
def test_matches(
    attributes: Mapping[str, str] | None,
    filters: Sequence[object] | None,
    changes: dict[str, AttributeValue | None],
    expected: bool,
) -> None:
    compiled = compile_filter(attributes, filters)
    assert compiled.matches(event(**changes)) is expected


ERROR_CASES: dict[str, tuple[object, object, str]] = {
    "attribute name with capitals": (
        {"Type": "x"},
        None,
        "filter.attributes: attribute name 'Type' is invalid",
    ),
    "attribute name with dash": ({"my-ext": "x"}, None, "attribute name 'my-ext' is invalid"),
    "attribute name starting with a digit": (
        {"1ext": "x"},
        None,
        "attribute name '1ext' is invalid",
    ),
    "attribute value not a string": (
        {"replicas": 3},
        None,
        "filter.attributes.replicas: the value must be a string",
    ),
    "attribute value null": ({"node": None}, None, "the value must be a string"),
    "attributes checked even when filters override": (
        {"BAD": "x"},
        [{"exact": {"type": "x"}}],
        "filter.attributes: attribute name 'BAD'",
    ),
    "attributes not a map": (["type"], None, "filter.attributes: must be a map"),
    "filters not a list": (None, {"exact": {"type": "x"}}, "filters: must be a list"),
    "filters a string": (None, "type = 'x'", "filters: must be a list"),
    "element not a mapping": (None, ["exact"], "filters[0]: must be a mapping with one dialect"),
    "no dialect": (
        None,
        [{}],
        "filters[0]: a filter expression has exactly one dialect, found 0 (none)",
    ),
    "two dialects": (
        None,
        [{"exact": {"type": "x"}, "prefix": {"source": "/"}}],
        "filters[0]: a filter expression has exactly one dialect, found 2 (exact, prefix)",
    ),
    "unknown dialect": (None, [{"regex": {"type": ".*"}}], "filters[0]: unknown dialect 'regex'"),
    "sql is spelled cesql": (None, [{"sql": "true"}], "CESQL is written `cesql`"),
    "exact empty map": (
        None,
        [{"exact": {}}],
        "filters[0].exact: must name at least one attribute",
    ),
    "exact not a map": (None, [{"exact": "type"}], "filters[0].exact: must be a map"),
    "exact empty value": (
        None,
        [{"exact": {"type": ""}}],
        "filters[0].exact.type: the value must not be empty",
    ),
    "exact bad name": (
        None,
        [{"exact": {"Type": "x"}}],
        "filters[0].exact: attribute name 'Type' is invalid",
    ),
    "exact non-string value": (
        None,
        [{"exact": {"ready": True}}],
        "filters[0].exact.ready: the value must be a string",
    ),
    "prefix empty map": (
        None,
        [{"prefix": {}}],
        "filters[0].prefix: must name at least one attribute",
    ),
    "prefix empty value": (
        None,
        [{"prefix": {"type": ""}}],
        "filters[0].prefix.type: the value must not be empty",
    ),
    "suffix empty map": (
        None,
        [{"suffix": {}}],
        "filters[0].suffix: must name at least one attribute",
    ),
    "suffix numeric value": (
        None,
        [{"suffix": {"type": 1}}],
        "filters[0].suffix.type: the value must be a string",
    ),
    "all not a list": (None, [{"all": {"exact": {"type": "x"}}}], "filters[0].all: must be a list"),
    "any empty": (None, [{"any": []}], "filters[0].any: needs at least one filter expression"),
    "any not a list": (None, [{"any": "x"}], "filters[0].any: must be a list"),
    "nested error has its path": (
        None,
        [{"exact": {"type": "x"}}, {"all": [{"not": {"any": [{"prefix": {"Bad": "x"}}]}}]}],
        "filters[1].all[0].not.any[0].prefix: attribute name 'Bad' is invalid",
    ),
    "not without a filter": (None, [{"not": None}], "filters[0].not: must be a mapping"),
    "not with a list": (
        None,
        [{"not": [{"exact": {"type": "x"}}]}],
        "filters[0].not: must be a mapping",
    ),
    "cesql empty": (None, [{"cesql": ""}], "filters[0].cesql: must be a CESQL expression"),
    "cesql blank": (None, [{"cesql": "   "}], "filters[0].cesql: must be a CESQL expression"),
    "cesql not a string": (None, [{"cesql": True}], "filters[0].cesql: must be a CESQL expression"),
    "cesql syntax error": (
        None,
        [{"cesql": "type = "}],
        "filters[0].cesql: invalid CESQL at column",
    ),
}


@pytest.mark.parametrize(
    ("attributes", "filters", "message"),
    ERROR_CASES.values(),
    ids=list(ERROR_CASES),
)
def test_bad_specs_fail_to_compile(attributes: Any, filters: Any, message: str) -> None:
    # Any: the point is what compile_filter does with YAML that has the wrong shape.
    with pytest.raises(FilterError) as caught:
        compile_filter(attributes, filters)
    assert message in str(caught.value)
    assert caught.value.reason == str(caught.value)


def test_cesql_syntax_error_carries_its_position() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(None, [{"cesql": "type = 'a' AND AND"}])
    assert caught.value.position == 16
    assert "column 16" in str(caught.value)


def test_cesql_evaluation_errors_are_reported_and_do_not_match() -> None:
    errors: list[CesqlError] = []
    compiled = compile_filter(None, [{"cesql": "node = 'n1'"}], on_cesql_error=errors.append)
    assert compiled.matches(event()) is False
    assert len(errors) == 1
    assert errors[0].kind == "missingAttribute"
    assert compiled.matches(event(node="n1")) is True
    assert len(errors) == 1


def test_cesql_math_error_does_not_match() -> None:
    errors: list[CesqlError] = []
    compiled = compile_filter(None, [{"cesql": "1 / 0 = 0"}], on_cesql_error=errors.append)
    assert compiled.matches(event()) is False
    assert [error.kind for error in errors] == ["math"]


def test_filters_compare_by_spec() -> None:
    spec: list[object] = [
        {"any": [{"exact": {"type": "a", "source": "b"}}, {"cesql": "EXISTS node"}]}
    ]
    reordered: list[object] = [
        {"any": [{"exact": {"source": "b", "type": "a"}}, {"cesql": "EXISTS node"}]}
    ]
    assert compile_filter(None, spec) == compile_filter(None, reordered)
    assert hash(compile_filter(None, spec)) == hash(compile_filter(None, reordered))
    assert compile_filter(None, spec, on_cesql_error=print) == compile_filter(None, spec)
    assert compile_filter(None, spec) != compile_filter(None, [{"exact": {"type": "a"}}])
    assert compile_filter({"type": "a"}, None) == compile_filter(None, [{"exact": {"type": "a"}}])
    assert compile_filter(None, [{"prefix": {"type": "a"}}]) != compile_filter(
        None, [{"suffix": {"type": "a"}}]
    )
    assert compile_filter(None, None) == compile_filter({}, []) == MATCH_ALL


def test_filter_repr_shows_the_spec() -> None:
    assert "dev.shoal." in repr(compile_filter(None, [{"prefix": {"type": "dev.shoal."}}]))


@pytest.mark.parametrize(
    "expression", ["NOPE(type)", "LENGTH(type, 1) > 0", "subject IN ('a', MISSING())"]
)
def test_cesql_calling_an_unknown_function_fails_at_load(expression: str) -> None:
    with pytest.raises(FilterError, match="no function"):
        compile_filter(None, [{"cesql": expression}])
