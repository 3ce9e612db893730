from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from shoal.orchestration.probes import Probe, ProbeError, Readiness, probe_from_data
from shoal.orchestration.quantity import parse_cpu, parse_memory
from shoal.orchestration.spec import InvalidSpec, Problem, parse_deployment, template_hash

EVERY_SETTING = {
    "initialDelaySeconds": 5,
    "periodSeconds": 2,
    "timeoutSeconds": 3,
    "successThreshold": 2,
    "failureThreshold": 4,
}


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ({"httpGet": {"port": "http"}}, Probe("http", "http", "/", 0, 10, 1, 1, 3)),
        ({"httpGet": {"path": "/healthz", "port": "http"}}, Probe("http", "http", "/healthz")),
        ({"httpGet": {"port": "http", "scheme": "HTTP"}}, Probe("http", "http")),
        ({"tcpSocket": {"port": "http"}}, Probe("tcp", "http", "/", 0, 10, 1, 1, 3)),
        (
            {"httpGet": {"path": "/ready?full=1", "port": "http"}, **EVERY_SETTING},
            Probe("http", "http", "/ready?full=1", 5, 2, 3, 2, 4),
        ),
        (
            {"tcpSocket": {"port": "http"}, **EVERY_SETTING},
            Probe("tcp", "http", "/", 5, 2, 3, 2, 4),
        ),
        # the minimums: a delay may be 0, the others at least 1
        (
            {
                "tcpSocket": {"port": "http"},
                "initialDelaySeconds": 0,
                "periodSeconds": 1,
                "timeoutSeconds": 1,
                "successThreshold": 1,
                "failureThreshold": 1,
            },
            Probe("tcp", "http", "/", 0, 1, 1, 1, 1),
        ),
    ],
)
def test_a_valid_probe_parses(document: dict[str, Any], probe: object, expected: Probe) -> None:
    document["spec"]["readinessProbe"] = probe
    assert parse_deployment(document).template.readiness == expected


def test_an_exec_probe_parses_without_a_port(document: dict[str, Any]) -> None:
    document["spec"]["ports"] = []
    document["spec"]["readinessProbe"] = {"exec": {"command": ["cat", "/tmp/ready"]}}

    probe = parse_deployment(document).template.readiness

    assert probe == Probe("exec", command=("cat", "/tmp/ready"))
    assert probe is not None
    assert probe.to_data() == {
        "action": "exec",
        "command": ["cat", "/tmp/ready"],
        "initial_delay_seconds": 0,
        "period_seconds": 10,
        "timeout_seconds": 1,
        "success_threshold": 1,
        "failure_threshold": 3,
    }
    assert probe_from_data(probe.to_data()) == probe


def test_without_a_probe_the_template_has_none(document: dict[str, Any]) -> None:
    assert "readinessProbe" not in document["spec"]
    assert parse_deployment(document).template.readiness is None


def test_a_probe_may_name_any_of_the_ports(document: dict[str, Any]) -> None:
    document["spec"]["ports"] = [{"name": "http"}, {"name": "admin"}]
    document["spec"]["readinessProbe"] = {"tcpSocket": {"port": "admin"}}
    assert parse_deployment(document).template.readiness == Probe("tcp", "admin")


HTTP = "spec.readinessProbe.httpGet"


def problems_of(document: dict[str, Any]) -> tuple[Problem, ...]:
    """The problems `parse_deployment` finds in `document` (it must find some)."""
    with pytest.raises(InvalidSpec) as caught:
        parse_deployment(document)
    return caught.value.problems


@pytest.mark.parametrize(
    ("probe", "problem_path", "fragment"),
    [
        (
            {"httpGet": {"port": "web"}},
            f"{HTTP}.port",
            "is 'web'; write the name of one of spec.ports (http)",
        ),
        ({"httpGet": {"port": 8080}}, f"{HTTP}.port", "is 8080; write the name of one of"),
        (
            {"tcpSocket": {"port": 8080}},
            "spec.readinessProbe.tcpSocket.port",
            "names the port rather than its number",
        ),
        (
            {"httpGet": {"path": "/healthz"}},
            f"{HTTP}.port",
            "is required; write the name of one of spec.ports (http)",
        ),
        ({"tcpSocket": {}}, "spec.readinessProbe.tcpSocket.port", "is required; write the name"),
        (
            {"httpGet": {"port": "http"}, "tcpSocket": {"port": "http"}},
            "spec.readinessProbe",
            "found httpGet and tcpSocket; write e.g. readinessProbe: {httpGet:",
        ),
        (
            {"periodSeconds": 5},
            "spec.readinessProbe",
            "found none; write e.g. readinessProbe: {httpGet: {path: /healthz, port: http}}",
        ),
        ({}, "spec.readinessProbe", "needs exactly one of httpGet, tcpSocket and exec"),
        (
            {"exec": {"command": ["true"]}, "tcpSocket": {"port": "http"}},
            "spec.readinessProbe",
            "found tcpSocket and exec",
        ),
        ({"exec": {}}, "spec.readinessProbe.exec.command", "needs the command to run; write e.g."),
        ({"exec": {"command": []}}, "spec.readinessProbe.exec.command", "needs the command"),
        ({"exec": {"command": "cat /tmp/ready"}}, "spec.readinessProbe.exec.command", "list"),
        (
            {"exec": ["cat", "/tmp/ready"]},
            "spec.readinessProbe.exec",
            "write e.g. exec: {command: [pg_isready, -h, 127.0.0.1]}",
        ),
        (
            {"httpGet": {"path": "healthz", "port": "http"}},
            f"{HTTP}.path",
            "is 'healthz'; write an absolute path like /healthz",
        ),
        ({"httpGet": {"path": "/a b", "port": "http"}}, f"{HTTP}.path", "absolute path"),
        ({"httpGet": {"path": 7, "port": "http"}}, f"{HTTP}.path", "is 7; write an absolute"),
        (
            {"httpGet": {"port": "http", "scheme": "HTTPS"}},
            f"{HTTP}.scheme",
            "is 'HTTPS'; only HTTP is supported: drop it",
        ),
        (
            {"httpGet": {"port": "http"}, "periodSeconds": 0},
            "spec.readinessProbe.periodSeconds",
            "is 0; write a whole number of at least 1",
        ),
        (
            {"httpGet": {"port": "http"}, "timeoutSeconds": "1"},
            "spec.readinessProbe.timeoutSeconds",
            "write it without quotes: timeoutSeconds: 1",
        ),
        (
            {"httpGet": {"port": "http"}, "initialDelaySeconds": -1},
            "spec.readinessProbe.initialDelaySeconds",
            "at least 0",
        ),
        (
            {"httpGet": {"port": "http"}, "successThreshold": True},
            "spec.readinessProbe.successThreshold",
            "write a whole number of at least 1",
        ),
        (
            {"httpGet": {"port": "http"}, "failureThreshold": 0},
            "spec.readinessProbe.failureThreshold",
            "at least 1",
        ),
        (
            {"httpGet": {"port": "http"}, "perodSeconds": 5},
            "spec.readinessProbe.perodSeconds",
            "is not a known field; did you mean 'periodSeconds'?",
        ),
        (
            {"httpGet": {"port": "http", "host": "10.0.0.1"}},
            f"{HTTP}.host",
            "is not a known field",
        ),
    ],
)
def test_each_probe_problem_names_the_field_and_the_fix(
    document: dict[str, Any], probe: object, problem_path: str, fragment: str
) -> None:
    document["spec"]["readinessProbe"] = probe

    problems = problems_of(document)

    # One mistake, one problem: nothing else in the document is reported.
    assert [p.path for p in problems] == [problem_path], problems
    assert fragment in problems[0].message


def test_a_probe_without_any_port_to_name(document: dict[str, Any]) -> None:
    del document["spec"]["ports"]
    document["spec"]["readinessProbe"] = {"tcpSocket": {"port": "http"}}
    with pytest.raises(InvalidSpec) as caught:
        parse_deployment(document)

    assert [p.path for p in caught.value.problems] == ["spec.readinessProbe.tcpSocket.port"]
    assert "add e.g. ports: [{name: http}] and probe port: http" in (
        caught.value.problems[0].message
    )


def test_probe_problems_are_reported_with_the_others(document: dict[str, Any]) -> None:
    document["spec"]["replicas"] = -1
    document["spec"]["readinessProbe"] = {
        "httpGet": {"path": "healthz", "port": "web", "scheme": "HTTPS"},
        "periodSeconds": 0,
    }
    with pytest.raises(InvalidSpec) as caught:
        parse_deployment(document)

    assert sorted(p.path for p in caught.value.problems) == [
        "spec.readinessProbe.httpGet.path",
        "spec.readinessProbe.httpGet.port",
        "spec.readinessProbe.httpGet.scheme",
        "spec.readinessProbe.periodSeconds",
        "spec.replicas",
    ]


@pytest.mark.parametrize(
    "probe",
    [
        Probe("http", "http"),
        Probe("http", "admin", "/healthz", 5, 2, 3, 2, 4),
        Probe("tcp", "db"),
        Probe("tcp", "db", "/", 0, 1, 1, 1, 1),
    ],
)
def test_probe_data_round_trips(probe: Probe) -> None:
    assert probe_from_data(probe.to_data()) == probe


def test_probe_data_is_the_wire_form() -> None:
    assert Probe("http", "http", "/healthz", 5, 2, 3, 2, 4).to_data() == {
        "action": "http",
        "port": "http",
        "path": "/healthz",
        "initial_delay_seconds": 5,
        "period_seconds": 2,
        "timeout_seconds": 3,
        "success_threshold": 2,
        "failure_threshold": 4,
    }
    assert "path" not in Probe("tcp", "http").to_data()


def test_a_parsed_probe_round_trips(document: dict[str, Any]) -> None:
    document["spec"]["readinessProbe"] = {"httpGet": {"path": "/up", "port": "http"}}
    probe = parse_deployment(document).template.readiness
    assert probe is not None
    assert probe_from_data(probe.to_data()) == probe


GOOD_DATA = Probe("http", "http", "/healthz").to_data()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"action": "udp"}, "readiness.action must be 'http', 'tcp' or 'exec', not 'udp'"),
        ({"action": "exec"}, "readiness.command must be a non-empty list of strings, not None"),
        ({"action": "exec", "command": []}, "readiness.command must be a non-empty list"),
        ({"action": "exec", "command": ["ok", 1]}, "readiness.command"),
        ({"action": None}, "readiness.action"),
        ({"action": "HTTP"}, "readiness.action"),
        ({"port": None}, "readiness.port must name a port"),
        ({"port": ""}, "readiness.port must name a port"),
        ({"port": 8080}, "readiness.port must name a port, not 8080"),
        ({"path": "healthz"}, "readiness.path must be an absolute path, not 'healthz'"),
        ({"path": "/a b"}, "readiness.path"),
        (
            {"initial_delay_seconds": -1},
            "readiness.initial_delay_seconds must be a whole number >= 0",
        ),
        ({"period_seconds": 0}, "readiness.period_seconds must be a whole number >= 1, not 0"),
        ({"timeout_seconds": -3}, "readiness.timeout_seconds must be a whole number >= 1"),
        ({"success_threshold": 0}, "readiness.success_threshold"),
        ({"failure_threshold": True}, "readiness.failure_threshold must be a whole number >= 1"),
        ({"failure_threshold": False}, "readiness.failure_threshold"),
        ({"period_seconds": 1.5}, "readiness.period_seconds"),
        ({"timeout_seconds": "1"}, "readiness.timeout_seconds"),
    ],
)
def test_bad_probe_data_names_the_field(change: dict[str, object], fragment: str) -> None:
    data = {**GOOD_DATA, **change}
    data = {key: value for key, value in data.items() if value is not None}
    with pytest.raises(ProbeError) as caught:
        probe_from_data(data)
    assert fragment in str(caught.value)


@pytest.mark.parametrize("data", [None, "http", ["http"], 3])
def test_probe_data_must_be_an_object(data: object) -> None:
    with pytest.raises(ProbeError, match="readiness must be a JSON object"):
        probe_from_data(data)


T, F = True, False


def verdicts(
    state: Readiness, thresholds: tuple[int, int], results: list[bool]
) -> list[tuple[bool | None, bool]]:
    """(ready, changed) after each result, for (successThreshold, failureThreshold)."""
    success_threshold, failure_threshold = thresholds
    probe = Probe(
        "tcp", "http", success_threshold=success_threshold, failure_threshold=failure_threshold
    )
    seen = []
    for ok in results:
        state = state.observe(ok, probe)
        seen.append((state.ready, state.changed))
    return seen


@pytest.mark.parametrize(
    ("thresholds", "results", "expected"),
    [
        # (successThreshold, failureThreshold), probe results, (ready, changed) after each
        ((1, 3), [T], [(T, T)]),
        ((1, 3), [T, T], [(T, T), (T, F)]),
        ((1, 3), [T, F, F, F], [(T, T), (T, F), (T, F), (F, T)]),
        ((1, 3), [T, F, F, F, F], [(T, T), (T, F), (T, F), (F, T), (F, F)]),
        ((1, 3), [T, F, F, F, T], [(T, T), (T, F), (T, F), (F, T), (T, T)]),
        # a success resets the failures in a row
        ((1, 3), [T, F, F, T, F, F], [(T, T), (T, F), (T, F), (T, F), (T, F), (T, F)]),
        # never ready, failing: nothing to report
        ((1, 3), [F, F, F, F], [(F, F), (F, F), (F, F), (F, F)]),
        ((2, 3), [T, T], [(F, F), (T, T)]),
        # a failure resets the successes in a row
        ((2, 3), [T, F, T, T], [(F, F), (F, F), (F, F), (T, T)]),
        ((2, 3), [T, F, T, F, T], [(F, F), (F, F), (F, F), (F, F), (F, F)]),
        ((1, 1), [T, F, T, F], [(T, T), (F, T), (T, T), (F, T)]),
        # readiness lost, then regained only after successThreshold successes again
        ((2, 1), [T, T, F, T, T], [(F, F), (T, T), (F, T), (F, F), (T, T)]),
    ],
)
def test_readiness_follows_the_thresholds(
    thresholds: tuple[int, int], results: list[bool], expected: list[tuple[bool, bool]]
) -> None:
    assert verdicts(Readiness(), thresholds, results) == expected


def test_a_new_replica_is_not_ready() -> None:
    assert (Readiness().ready, Readiness().changed) == (False, False)


def _independent_hash(document: dict[str, Any], **extra: object) -> str:
    """The template hash as documented, from the document itself (not from `template_hash`)."""
    spec = document["spec"]
    fields = {
        "image": spec["image"],
        "command": spec.get("command", []),
        "env": spec.get("env", {}),
        "resources": [
            parse_cpu(spec["resources"]["cpu"]),
            parse_memory(spec["resources"]["memory"]),
        ],
        "ports": [port["name"] for port in spec.get("ports", [])],
        **extra,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def test_a_template_without_a_probe_keeps_its_hash(document: dict[str, Any]) -> None:
    # Revisions named before readiness probes existed must keep their names.
    assert template_hash(parse_deployment(document)) == _independent_hash(document)


def test_a_probe_is_part_of_the_template_hash(document: dict[str, Any]) -> None:
    before = template_hash(parse_deployment(document))
    document["spec"]["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}}
    after = template_hash(parse_deployment(document))

    assert after != before
    assert after == _independent_hash(
        document,
        readiness={
            "action": "http",
            "port": "http",
            "path": "/healthz",
            "initial_delay_seconds": 0,
            "period_seconds": 10,
            "timeout_seconds": 1,
            "success_threshold": 1,
            "failure_threshold": 3,
        },
    )


@pytest.mark.parametrize(
    "probe",
    [
        {"tcpSocket": {"port": "http"}},
        {"httpGet": {"path": "/ready", "port": "http"}},
        {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
        {"httpGet": {"path": "/healthz", "port": "http"}, "failureThreshold": 1},
    ],
)
def test_a_changed_probe_changes_the_hash(document: dict[str, Any], probe: object) -> None:
    document["spec"]["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}}
    before = template_hash(parse_deployment(document))
    document["spec"]["readinessProbe"] = probe
    assert template_hash(parse_deployment(document)) != before


def test_a_probe_written_with_its_defaults_hashes_as_without_them(
    document: dict[str, Any],
) -> None:
    document["spec"]["readinessProbe"] = {"httpGet": {"port": "http"}}
    short = template_hash(parse_deployment(document))
    document["spec"]["readinessProbe"] = {
        "httpGet": {"path": "/", "port": "http", "scheme": "HTTP"},
        "initialDelaySeconds": 0,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert template_hash(parse_deployment(document)) == short


N = None


@pytest.mark.parametrize(
    ("thresholds", "results", "expected"),
    [
        # A replica an agent found running after its restart: its first verdict is news.
        ((1, 3), [T], [(T, T)]),
        ((1, 3), [F, F, F], [(N, F), (N, F), (F, T)]),
        ((2, 3), [T, F, T, T], [(N, F), (N, F), (N, F), (T, T)]),
        ((1, 3), [F, T, F, F, F], [(N, F), (T, T), (T, F), (T, F), (F, T)]),
    ],
)
def test_a_replica_of_unknown_readiness_reports_its_first_verdict(
    thresholds: tuple[int, int], results: list[bool], expected: list[tuple[bool | None, bool]]
) -> None:
    assert verdicts(Readiness(ready=None), thresholds, results) == expected


# Liveness


def test_a_liveness_probe_parses_as_a_readiness_probe_does(document: dict[str, Any]) -> None:
    document["spec"]["livenessProbe"] = {
        "tcpSocket": {"port": "http"},
        "initialDelaySeconds": 5,
        "periodSeconds": 2,
        "failureThreshold": 4,
    }

    template = parse_deployment(document).template

    assert template.liveness == Probe(
        "tcp", "http", initial_delay_seconds=5, period_seconds=2, failure_threshold=4
    )
    assert template.readiness is None


@pytest.mark.parametrize(
    ("probe", "problem_path", "fragment"),
    [
        (
            {"tcpSocket": {"port": "http"}, "successThreshold": 2},
            "spec.livenessProbe.successThreshold",
            "is 2; a liveness probe's must be 1: drop it",
        ),
        (
            {"httpGet": {"port": "web"}},
            "spec.livenessProbe.httpGet.port",
            "is 'web'; write the name of one of spec.ports (http)",
        ),
        (
            {},
            "spec.livenessProbe",
            "found none; write e.g. livenessProbe: {httpGet: {path: /healthz, port: http}}",
        ),
        ({"exec": {}}, "spec.livenessProbe.exec.command", "needs the command to run"),
    ],
)
def test_each_liveness_problem_names_its_own_field(
    document: dict[str, Any], probe: object, problem_path: str, fragment: str
) -> None:
    document["spec"]["livenessProbe"] = probe

    (problem,) = problems_of(document)

    assert problem.path == problem_path
    assert fragment in problem.message


def test_a_liveness_probe_is_part_of_the_template_hash(document: dict[str, Any]) -> None:
    document["spec"]["readinessProbe"] = {"tcpSocket": {"port": "http"}}
    readiness_only = template_hash(parse_deployment(document))
    document["spec"]["livenessProbe"] = {"tcpSocket": {"port": "http"}}
    both = template_hash(parse_deployment(document))

    probe = Probe("tcp", "http").to_data()
    assert readiness_only == _independent_hash(document, readiness=probe)
    assert both == _independent_hash(document, readiness=probe, liveness=probe)
    assert both != readiness_only


def test_probe_data_names_the_probe_it_is() -> None:
    with pytest.raises(ProbeError, match=r"^liveness\.port must name a port"):
        probe_from_data({"action": "tcp"}, "liveness")


# Startup


def test_a_startup_probe_parses_and_is_part_of_the_template(document: dict[str, Any]) -> None:
    before = template_hash(parse_deployment(document))
    document["spec"]["startupProbe"] = {"tcpSocket": {"port": "http"}, "failureThreshold": 30}

    deployment = parse_deployment(document)

    assert deployment.template.startup == Probe("tcp", "http", failure_threshold=30)
    assert template_hash(deployment) == _independent_hash(
        document, startup=Probe("tcp", "http", failure_threshold=30).to_data()
    )
    assert template_hash(deployment) != before


def test_a_startup_probe_passes_once_or_not_at_all(document: dict[str, Any]) -> None:
    document["spec"]["startupProbe"] = {"exec": {"command": ["true"]}, "successThreshold": 3}

    (problem,) = problems_of(document)

    assert problem.path == "spec.startupProbe.successThreshold"
    assert problem.message == "is 3; a startup probe's must be 1: drop it"
