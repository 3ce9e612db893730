"""The schema check itself: it must catch what a cluster would refuse, or the overlay tests
prove nothing."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import pytest

from .schemas import schema_errors

TRIGGER = {
    "apiVersion": "eventing.knative.dev/v1",
    "kind": "Trigger",
    "metadata": {"name": "t"},
    "spec": {
        "broker": "default",
        "subscriber": {
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "s"}
        },
        "delivery": {"retry": 5},
    },
}
SERVICE = {
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {"name": "s"},
    "spec": {
        "template": {
            "spec": {"containers": [{"image": "r/i:1", "env": [{"name": "A", "value": "b"}]}]}
        }
    },
}
CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "c"},
    "data": {"a": "1"},
}


def changed(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A copy of `document` with the dotted `path` set to `value` (a list step takes item 0)."""
    copy = deepcopy(document)
    node: Any = copy
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
        if isinstance(node, list):
            node = node[0]
    node[last] = value
    return copy


@pytest.mark.parametrize("document", [TRIGGER, SERVICE, CONFIG_MAP])
def test_a_valid_object_has_no_errors(document: dict[str, Any]) -> None:
    assert schema_errors(document) == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (changed(TRIGGER, "spec.brokr", "default"), ".spec.brokr: not a field of this kind"),
        (changed(TRIGGER, "spec.delivery.retry", "five"), "spec.delivery.retry: Input should be"),
        (changed(TRIGGER, "spec.delivery.retry", "5"), ".spec.delivery.retry: '5' is not of"),
        (changed(TRIGGER, "apiVersion", "eventing.knative.dev/v2"), "no schema for Trigger"),
        (changed(SERVICE, "spec.template.spec.containers.env", {"A": "b"}), "env: Input should be"),
        (changed(SERVICE, "spec.template.spec.containers.imag", "x"), "containers[0].imag: not a"),
        (changed(CONFIG_MAP, "data", {"a": 1}), "data/a: 1 is not of type 'string'"),
        (changed(CONFIG_MAP, "dta", {}), "'dta' was unexpected"),
        (changed(CONFIG_MAP, "kind", "ConfigMop"), "no Kubernetes 1.32 schema for ConfigMop"),
    ],
)
def test_an_object_the_schema_refuses_is_reported(document: dict[str, Any], expected: str) -> None:
    errors = schema_errors(document)

    assert any(expected in error for error in errors), errors
