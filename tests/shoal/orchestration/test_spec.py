from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shoal.orchestration.quantity import Percent
from shoal.orchestration.spec import (
    Autoscale,
    Deployment,
    InvalidSpec,
    PodTemplate,
    Port,
    Resources,
    Strategy,
    parse_deployment,
    template_hash,
)

DELETE = object()


def change(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """Set (or with DELETE remove) the field at a dotted path, creating mappings on the way."""
    *parents, last = path.split(".")
    node = document
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return document


def test_design_example_parses(document: dict[str, Any]) -> None:
    deployment = parse_deployment(document)

    assert deployment.name == "web"
    assert deployment.replicas == 3
    assert deployment.template == PodTemplate(
        image="127.0.0.1:5000/web:v1",
        command=("httpd", "-f", "-p", "$PORT"),
        resources=Resources(cpu_millis=100, memory_mib=64),
        ports=(Port("http"),),
    )
    assert deployment.strategy == Strategy(Percent(25), Percent(25))
    assert deployment.autoscale == Autoscale(
        max_replicas=10, min_replicas=1, target_cpu_utilization=70
    )
    assert deployment.constraints.node_selector == {"zone": "a"}
    assert (deployment.min_ready_seconds, deployment.progress_deadline_seconds) == (0, 600)
    assert deployment.revision_history_limit == 10


Get = Callable[[Deployment], object]


@pytest.mark.parametrize(
    ("path", "value", "get", "expected"),
    [
        # defaults, as Kubernetes has them
        ("spec.replicas", DELETE, lambda d: d.replicas, 1),
        ("spec.strategy", DELETE, lambda d: d.strategy, Strategy(Percent(25), Percent(25))),
        ("spec.strategy.maxSurge", DELETE, lambda d: d.strategy.max_surge, Percent(25)),
        ("spec.progressDeadlineSeconds", DELETE, lambda d: d.progress_deadline_seconds, 600),
        ("spec.revisionHistoryLimit", DELETE, lambda d: d.revision_history_limit, 10),
        ("spec.minReadySeconds", DELETE, lambda d: d.min_ready_seconds, 0),
        ("spec.command", DELETE, lambda d: d.template.command, ()),
        ("spec.env", DELETE, lambda d: d.template.env, {}),
        ("spec.ports", DELETE, lambda d: d.template.ports, ()),
        ("spec.resources.memory", DELETE, lambda d: d.template.resources, Resources(100, 0)),
        ("spec.autoscale", DELETE, lambda d: d.autoscale, None),
        (
            "spec.autoscale.minReplicas",
            DELETE,
            lambda d: d.autoscale and d.autoscale.min_replicas,
            1,
        ),
        (
            "spec.autoscale.targetCPUUtilization",
            DELETE,
            lambda d: d.autoscale and d.autoscale.target_cpu_utilization,
            80,
        ),
        ("spec.constraints", DELETE, lambda d: d.constraints.node_selector, {}),
        # values
        ("spec.replicas", 0, lambda d: d.replicas, 0),
        ("spec.replicas", 250, lambda d: d.replicas, 250),
        ("spec.strategy.maxSurge", 3, lambda d: d.strategy.max_surge, 3),
        ("spec.strategy.maxSurge", "150%", lambda d: d.strategy.max_surge, Percent(150)),
        (
            "spec.strategy.maxUnavailable",
            "100%",
            lambda d: d.strategy.max_unavailable,
            Percent(100),
        ),
        ("spec.strategy.maxUnavailable", 0, lambda d: d.strategy.max_unavailable, 0),
        ("spec.minReadySeconds", 30, lambda d: d.min_ready_seconds, 30),
        ("spec.revisionHistoryLimit", 0, lambda d: d.revision_history_limit, 0),
        ("spec.resources.cpu", "0.5", lambda d: d.template.resources.cpu_millis, 500),
        ("spec.resources.cpu", 2, lambda d: d.template.resources.cpu_millis, 2000),
        ("spec.resources.memory", "1Gi", lambda d: d.template.resources.memory_mib, 1024),
        ("spec.resources.memory", "500M", lambda d: d.template.resources.memory_mib, 477),
        (
            "spec.env",
            {"PORT_NAME": "http", "_X": ""},
            lambda d: dict(d.template.env),
            {"PORT_NAME": "http", "_X": ""},
        ),
        (
            "spec.ports",
            [{"name": "http"}, {"name": "metrics-2"}],
            lambda d: len(d.template.ports),
            2,
        ),
        ("spec.ports", [{"name": "a"}], lambda d: d.template.ports, (Port("a"),)),
        ("metadata.name", "a", lambda d: d.name, "a"),
        ("metadata.name", "web-2", lambda d: d.name, "web-2"),
        ("metadata.name", "9lives", lambda d: d.name, "9lives"),
        ("metadata.name", "a" * 63, lambda d: d.name, "a" * 63),
        (
            "spec.constraints.nodeSelector",
            {"zone": "a", "disk": "ssd"},
            lambda d: len(d.constraints.node_selector),
            2,
        ),
        ("spec.image", "web", lambda d: d.template.image, "web"),
        ("metadata.annotations", DELETE, lambda d: d.annotations, {}),
        ("metadata.annotations", {"team": "a"}, lambda d: d.annotations, {"team": "a"}),
    ],
)
def test_valid_fields(
    document: dict[str, Any], path: str, value: object, get: Get, expected: object
) -> None:
    assert get(parse_deployment(change(document, path, value))) == expected


@pytest.mark.parametrize(
    ("path", "value", "problem_path", "fragment"),
    [
        ("apiVersion", "apps/v1", "apiVersion", "write apiVersion: shoal.dev/v1"),
        ("apiVersion", DELETE, "apiVersion", "write apiVersion: shoal.dev/v1"),
        ("kind", "Service", "kind", "write kind: Deployment"),
        ("metadata.name", "My_Web", "metadata.name", "write e.g. 'my-web'"),
        ("metadata.name", "web-", "metadata.name", "write e.g. 'web'"),
        ("metadata.name", "-web", "metadata.name", "not a DNS label"),
        ("metadata.name", "a" * 64, "metadata.name", "at most 63"),
        ("metadata.name", "web.example", "metadata.name", "write e.g. 'web-example'"),
        ("metadata.name", "", "metadata.name", "not a DNS label"),
        ("metadata.name", 7, "metadata.name", "write e.g. '7'"),
        ("metadata.name", DELETE, "metadata.name", "is required; write e.g. metadata: {name: web}"),
        ("metadata.labels", {}, "metadata.labels", "not a known field"),
        ("metadata.annotations", {"n": 3}, "metadata.annotations.n", 'quote it: n: "3"'),
        ("metadata.annotations", "team=a", "metadata.annotations", "must be a mapping"),
        ("spec.replica", 3, "spec.replica", "did you mean 'replicas'?"),
        ("spec.maxSurge", 1, "spec.maxSurge", "not a known field"),
        ("spec.replicas", -1, "spec.replicas", "write a whole number of at least 0"),
        ("spec.replicas", "3", "spec.replicas", "write it without quotes: replicas: 3"),
        ("spec.replicas", 2.5, "spec.replicas", "whole number"),
        ("spec.replicas", True, "spec.replicas", "whole number"),
        ("spec.image", DELETE, "spec.image", "is required; write e.g. image:"),
        ("spec.image", "", "spec.image", "not an image reference"),
        ("spec.image", "web v1", "spec.image", "not an image reference"),
        ("spec.image", 5, "spec.image", "not an image reference"),
        (
            "spec.command",
            "httpd -f -p $PORT",
            "spec.command",
            'write ["httpd", "-f", "-p", "$PORT"]',
        ),
        ("spec.command", ["httpd", 80], "spec.command[1]", 'quote it: "80"'),
        ("spec.command", {"a": 1}, "spec.command", "must be a list"),
        ("spec.env", {"PORT": 8080}, "spec.env.PORT", 'quote it: PORT: "8080"'),
        ("spec.env", {"DEBUG": True}, "spec.env.DEBUG", 'quote it: DEBUG: "true"'),
        ("spec.env", {"1X": "a"}, "spec.env.1X", "not a valid name"),
        ("spec.env", {"A-B": "a"}, "spec.env.A-B", "not a valid name"),
        ("spec.env", ["A=1"], "spec.env", "must be a mapping"),
        ("spec.resources.cpu", "100x", "spec.resources.cpu", "unknown CPU unit"),
        ("spec.resources.cpu", "0.0001", "spec.resources.cpu", "finer than 1 millicore"),
        ("spec.resources.memory", "64mb", "spec.resources.memory", 'did you mean "Mi"?'),
        ("spec.resources.gpu", 1, "spec.resources.gpu", "not a known field"),
        ("spec.resources", "small", "spec.resources", "must be a mapping of cpu, memory"),
        ("spec.ports", [{"name": "HTTP"}], "spec.ports[0].name", "write e.g. name: http"),
        ("spec.ports", [{"name": "a-very-long-port-name"}], "spec.ports[0].name", "1-15"),
        ("spec.ports", [{"name": "80"}], "spec.ports[0].name", "at least one letter"),
        ("spec.ports", [{"name": "a--b"}], "spec.ports[0].name", "not a port name"),
        ("spec.ports", [{"name": "http"}, {"name": "http"}], "spec.ports[1].name", "used twice"),
        ("spec.ports", [{"port": 80}], "spec.ports[0].port", "not a known field"),
        ("spec.ports", [{}], "spec.ports[0].name", "not a port name"),
        ("spec.ports", {"name": "http"}, "spec.ports", "write e.g. ports: [{name: http}]"),
        (
            "spec.strategy.maxSurge",
            "25",
            "spec.strategy.maxSurge",
            "write a count like maxSurge: 1",
        ),
        (
            "spec.strategy.maxSurge",
            -1,
            "spec.strategy.maxSurge",
            "or a percentage like maxSurge: 25%",
        ),
        (
            "spec.strategy.maxUnavailable",
            "150%",
            "spec.strategy.maxUnavailable",
            "percentage up to 100%",
        ),
        ("spec.strategy.maxUnavailable", "2.5%", "spec.strategy.maxUnavailable", "write a count"),
        ("spec.strategy.type", "Recreate", "spec.strategy.type", "not a known field"),
        (
            "spec.strategy",
            {"maxSurge": 0, "maxUnavailable": 0},
            "spec.strategy",
            "write maxSurge: 1",
        ),
        ("spec.strategy", {"maxSurge": "0%", "maxUnavailable": 0}, "spec.strategy", "both 0"),
        (
            "spec.minReadySeconds",
            600,
            "spec.progressDeadlineSeconds",
            "greater than minReadySeconds (600)",
        ),
        ("spec.progressDeadlineSeconds", 0, "spec.progressDeadlineSeconds", "write e.g. 600"),
        ("spec.revisionHistoryLimit", -1, "spec.revisionHistoryLimit", "at least 0"),
        (
            "spec.autoscale.maxReplicas",
            DELETE,
            "spec.autoscale.maxReplicas",
            "is required; write e.g. maxReplicas: 1",
        ),
        ("spec.autoscale.minReplicas", 0, "spec.autoscale.minReplicas", "at least 1"),
        (
            "spec.autoscale.minReplicas",
            20,
            "spec.autoscale.maxReplicas",
            "write maxReplicas: 20 or more",
        ),
        (
            "spec.autoscale.targetCPUUtilization",
            "70%",
            "spec.autoscale.targetCPUUtilization",
            "whole number",
        ),
        (
            "spec.autoscale.targetCPU",
            70,
            "spec.autoscale.targetCPU",
            "did you mean 'targetCPUUtilization'?",
        ),
        ("spec.resources", DELETE, "spec.resources.cpu", "is needed by autoscale"),
        (
            "spec.constraints.nodeSelector",
            {"zone": 1},
            "spec.constraints.nodeSelector.zone",
            'quote it: zone: "1"',
        ),
        (
            "spec.constraints.nodeSelector",
            ["zone=a"],
            "spec.constraints.nodeSelector",
            "must be a mapping",
        ),
        ("spec.constraints.affinity", {}, "spec.constraints.affinity", "known: ['nodeSelector']"),
        ("spec", None, "spec.image", "is required"),
        ("spec", [], "spec", "must be a mapping"),
    ],
)
def test_each_problem_names_the_field_and_the_fix(
    document: dict[str, Any], path: str, value: object, problem_path: str, fragment: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_deployment(change(document, path, value))

    messages = [p.message for p in caught.value.problems if p.path == problem_path]
    assert messages, f"no problem at {problem_path}: {caught.value}"
    assert any(fragment in message for message in messages), messages


def test_every_problem_is_reported_at_once(document: dict[str, Any]) -> None:
    for path, value in [
        ("apiVersion", "v2"),
        ("metadata.name", "Web"),
        ("spec.replicas", -2),
        ("spec.resources.memory", "1gb"),
        ("spec.ports", [{"name": "HTTP"}]),
        ("spec.strategy.maxUnavailable", "200%"),
    ]:
        change(document, path, value)

    with pytest.raises(InvalidSpec) as caught:
        parse_deployment(document)

    assert [p.path for p in caught.value.problems] == [
        "apiVersion",
        "metadata.name",
        "spec.resources.memory",
        "spec.ports[0].name",
        "spec.replicas",
        "spec.strategy.maxUnavailable",
    ]
    text = str(caught.value)
    assert text.startswith("invalid Deployment (6 problem(s)):")
    assert "  - spec.replicas: is -2; write a whole number of at least 0" in text


@pytest.mark.parametrize("document_value", [None, [], "web", 3])
def test_a_document_that_is_not_a_mapping(document_value: object) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_deployment(document_value)

    assert str(caught.value.problems[0]).startswith("(document): must be a mapping")


def test_parsed_maps_are_read_only(document: dict[str, Any]) -> None:
    change(document, "spec.env", {"A": "1"})
    deployment = parse_deployment(document)

    with pytest.raises(TypeError):
        deployment.template.env["A"] = "2"  # type: ignore[index]
    document["spec"]["env"]["A"] = "3"
    assert deployment.template.env == {"A": "1"}


def test_template_hash_is_pinned(document: dict[str, Any]) -> None:
    # A revision's name must not change between releases or hosts: replicas would be replaced.
    assert template_hash(parse_deployment(document)) == "d57582ce19"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.replicas", 7),
        ("spec.strategy", {"maxSurge": 1, "maxUnavailable": 0}),
        ("spec.minReadySeconds", 10),
        ("spec.progressDeadlineSeconds", 900),
        ("spec.revisionHistoryLimit", 2),
        ("spec.autoscale", DELETE),
        ("spec.constraints", DELETE),
        ("spec.resources.cpu", "0.1"),  # the same quantity written another way
        ("spec.resources.memory", "65536Ki"),
    ],
)
def test_template_hash_ignores_what_is_not_the_template(
    document: dict[str, Any], path: str, value: object
) -> None:
    before = template_hash(parse_deployment(document))
    assert template_hash(parse_deployment(change(document, path, value))) == before


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.image", "127.0.0.1:5000/web:v2"),
        ("spec.command", ["httpd", "-f"]),
        ("spec.command", ["httpd", "-f", "-p", "$PORT", ""]),
        ("spec.env", {"A": "1"}),
        ("spec.resources.cpu", "200m"),
        ("spec.resources.memory", "65Mi"),
        ("spec.ports", [{"name": "web"}]),
        ("spec.ports", []),
    ],
)
def test_template_hash_changes_with_the_template(
    document: dict[str, Any], path: str, value: object
) -> None:
    before = template_hash(parse_deployment(document))
    after = template_hash(parse_deployment(change(document, path, value)))
    assert after != before
    assert len(after) == 10


def test_template_hash_ignores_env_order(document: dict[str, Any]) -> None:
    first = parse_deployment(change(document, "spec.env", {"A": "1", "B": "2"}))
    second = parse_deployment(change(document, "spec.env", {"B": "2", "A": "1"}))
    assert template_hash(first) == template_hash(second)
