from __future__ import annotations

import copy
from typing import Any

import pytest

from shoal.orchestration.images import FOLLOWS_ANNOTATION
from shoal.orchestration.revisions import (
    TEMPLATE_FIELDS,
    UnknownRevision,
    kept_revisions,
    renumber,
    rollback_target,
    with_template,
)
from shoal.orchestration.spec import parse_deployment, template_hash


@pytest.mark.parametrize(
    ("numbers", "current", "expected"),
    [
        ({}, "a", {"a": 1}),  # the first revision
        ({"a": 1}, "a", {"a": 1}),  # re-applied unchanged: no new revision
        ({"a": 1}, "b", {"a": 1, "b": 2}),  # a new template
        ({"a": 1, "b": 2}, "a", {"a": 3, "b": 2}),  # an old template moves to the top
        ({"a": 3, "b": 2}, "a", {"a": 3, "b": 2}),
        ({"a": 1, "b": 5, "c": 3}, "c", {"a": 1, "b": 5, "c": 6}),
    ],
)
def test_renumber(numbers: dict[str, int], current: str, expected: dict[str, int]) -> None:
    assert renumber(numbers, current) == expected


HISTORY = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}


@pytest.mark.parametrize(
    ("current", "in_use", "limit", "expected"),
    [
        ("e", set(), 10, {"a", "b", "c", "d", "e"}),
        ("e", set(), 2, {"c", "d", "e"}),  # the newest old ones are kept
        ("e", set(), 0, {"e"}),
        ("e", {"a"}, 1, {"a", "d", "e"}),  # a revision with replicas is kept besides the limit
        ("e", {"a", "d"}, 1, {"a", "c", "d", "e"}),
        ("c", set(), 1, {"c", "e"}),  # after a rollback the current is not the newest number
        ("e", {"x"}, 0, {"e"}),  # replicas of a forgotten revision change nothing
    ],
)
def test_kept_revisions(current: str, in_use: set[str], limit: int, expected: set[str]) -> None:
    assert kept_revisions(HISTORY, current, in_use=in_use, history_limit=limit) == expected


@pytest.mark.parametrize(
    ("numbers", "current", "to_revision", "expected"),
    [
        ({"a": 1, "b": 2}, "b", 0, "a"),  # `kubectl rollout undo`: the previous one
        ({"a": 1, "b": 2, "c": 3}, "c", 0, "b"),
        ({"a": 1, "b": 2, "c": 3}, "c", 1, "a"),  # --to-revision=1
        ({"a": 4, "b": 2, "c": 3}, "a", 0, "c"),  # after an earlier rollback
        ({"a": 1, "b": 2}, "b", 2, "b"),  # to the current one: no change
    ],
)
def test_rollback_target(
    numbers: dict[str, int], current: str, to_revision: int, expected: str
) -> None:
    assert rollback_target(numbers, current, to_revision) == expected


@pytest.mark.parametrize(
    ("numbers", "current", "to_revision", "fragment"),
    [
        (
            {"a": 1},
            "a",
            0,
            r"no revision before the current one \(1\) to roll back to; revisions kept: 1$",
        ),
        ({"a": 1, "b": 2}, "b", 7, "revision 7 is not in the history; revisions kept: 1, 2"),
    ],
)
def test_rollback_to_an_unknown_revision(
    numbers: dict[str, int], current: str, to_revision: int, fragment: str
) -> None:
    with pytest.raises(UnknownRevision, match=fragment):
        rollback_target(numbers, current, to_revision)


def test_with_template_takes_the_template_and_keeps_the_rest(document: dict[str, Any]) -> None:
    old = copy.deepcopy(document)
    old["spec"].update(image="web:v0", command=["old"], env={"A": "1"}, replicas=1)
    old["spec"].pop("ports")
    old["metadata"]["annotations"] = {FOLLOWS_ANNOTATION: "web:v0", "team": "old"}
    document["spec"].update(replicas=7, minReadySeconds=5)
    document["metadata"]["annotations"] = {"team": "new"}

    rolled_back = with_template(document, old)

    expected = copy.deepcopy(document)
    expected["spec"].update(image="web:v0", command=["old"], env={"A": "1"})
    expected["spec"].pop("ports")
    expected["metadata"]["annotations"] = {"team": "new", FOLLOWS_ANNOTATION: "web:v0"}
    assert rolled_back == expected
    assert template_hash(parse_deployment(rolled_back)) == template_hash(parse_deployment(old))


def test_with_template_drops_a_follows_annotation_the_old_template_lacks(
    document: dict[str, Any],
) -> None:
    old = copy.deepcopy(document)
    document["metadata"]["annotations"] = {FOLLOWS_ANNOTATION: "web:v1"}

    assert with_template(document, old) == {**document, "metadata": {"name": "web"}}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image", "web:v9"),
        ("command", ["other"]),
        ("env", {"X": "1"}),
        ("resources", {"cpu": "200m"}),
        ("ports", [{"name": "admin"}]),
        ("readinessProbe", {"tcpSocket": {"port": "http"}}),
        ("livenessProbe", {"tcpSocket": {"port": "http"}}),
        ("startupProbe", {"tcpSocket": {"port": "http"}}),
        ("replicas", 9),
        ("strategy", {"maxSurge": 3}),
        ("minReadySeconds", 4),
        ("constraints", {"nodeSelector": {"zone": "b"}}),
    ],
)
def test_template_fields_are_exactly_what_the_hash_covers(
    document: dict[str, Any], field: str, value: object
) -> None:
    changed = copy.deepcopy(document)
    changed["spec"][field] = value

    differs = template_hash(parse_deployment(changed)) != template_hash(parse_deployment(document))

    assert differs is (field in TEMPLATE_FIELDS)


def test_annotations_are_not_part_of_the_template(document: dict[str, Any]) -> None:
    annotated = copy.deepcopy(document)
    annotated["metadata"]["annotations"] = {"team": "a"}

    assert template_hash(parse_deployment(annotated)) == template_hash(parse_deployment(document))
